import EaselDiffusion

/// EaselServer answers Leap's Images API: routes, auth, job store, workers, webhooks.
public enum EaselServer {}
