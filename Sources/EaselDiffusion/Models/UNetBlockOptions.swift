/// What every block of a `UNet2DConditionModel` shares, resolved once from its config:
/// the time-embedding width the resnets project from, the group-norm settings, and how
/// the transformers are built.
struct UNetBlockOptions: Sendable {
    /// Width of the timestep embedding (`temb`).
    var timeEmbeddingChannels: Int
    var groups: Int
    /// Epsilon of the resnets' group norms (`norm_eps`).
    var epsilon: Double
    /// `Transformer2DModel` projections are linear layers rather than 1x1 convs.
    var useLinearProjection: Bool

    init(_ config: UNet2DConditionConfig) {
        timeEmbeddingChannels = config.timeEmbedDimension
        groups = config.normNumGroups
        epsilon = config.normEps
        useLinearProjection = config.useLinearProjection
    }

    /// A resnet of the UNet (every one takes the time embedding).
    func resnet(_ weights: any WeightSource, in inChannels: Int, out outChannels: Int,
                outputScaleFactor: Double = 1) throws -> ResnetBlock2D {
        try ResnetBlock2D(weights, inChannels: inChannels, outChannels: outChannels,
                          timeEmbeddingChannels: timeEmbeddingChannels, groups: groups, epsilon: epsilon,
                          outputScaleFactor: outputScaleFactor)
    }

    /// A transformer over `channels` split into `heads` heads, as every cross-attention block
    /// builds it (`Transformer2DModel(heads, channels // heads, ...)`).
    func transformer(_ weights: any WeightSource, channels: Int, heads: Int, layers: Int,
                     crossAttentionDim: Int) throws -> Transformer2DModel {
        try Transformer2DModel(weights, heads: heads, headDim: channels / heads, channels: channels, layers: layers,
                               crossAttentionDim: crossAttentionDim, groups: groups,
                               useLinearProjection: useLinearProjection)
    }
}
