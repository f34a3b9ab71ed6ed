// EaselServer answers Leap's Images API (see /API.md in the design notes):
//
// - App/       `buildApplication(_:)`, configuration, request context, errors, logging
// - Routes/    one controller per resource: inferences (+ events), models, images, health/openapi
// - Store/     `EaselStore` (jobs, accounts, models, webhooks) with the SQLite implementation
// - Workers/   queue workers and webhook delivery (ServiceLifecycle services), the
//              `ImageGenerator` interface to the engine
// - Registry/  installed models, the warm-model cache and `DiffusionEngineGenerator`
//
// No type here is named `EaselServer`, so `EaselServer.X` always means this module's X.
