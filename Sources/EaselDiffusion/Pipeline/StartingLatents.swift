import EaselTensor

/// Where the denoising loop starts: pure noise at the first timestep (text to image), or an
/// init image encoded by the VAE and noised part-way down the schedule (image to image).
struct StartingLatents {
    /// `[n, latentChannels, h, w]`, ready for the loop's first step.
    var latents: Tensor
    /// The position in the scheduler's timesteps of that first step.
    var beginIndex: Int

    /// The starting latents of `request`, drawing from `random` in diffusers' order.
    /// `scheduler` must have its timesteps set; image to image also sets its begin index.
    /// With a `tinyAutoencoder`, image to image encodes with it (as diffusers does when it
    /// is the pipeline's `vae`).
    static func make(for request: GenerationRequest, model: StableDiffusionModel, tinyAutoencoder: AutoencoderTiny? = nil,
                     scheduler: inout any Scheduler, random: inout TorchRandom) throws -> StartingLatents {
        guard let initImage = request.initImage else {
            // Sized by the VAE, as diffusers does: an inpainting UNet takes more channels than it denoises.
            let factor = model.vaeScaleFactor
            let shape = [request.count, model.vae.config.latentChannels, request.height / factor, request.width / factor]
            return StartingLatents(latents: random.randn(shape) * scheduler.initNoiseSigma, beginIndex: 0)
        }
        return imageToImage(initImage, count: request.count, steps: request.steps, model: model,
                            tinyAutoencoder: tinyAutoencoder, scheduler: &scheduler, random: &random)
    }

    /// diffusers' `StableDiffusionImg2ImgPipeline`: `get_timesteps` enters the schedule at
    /// `steps - int(steps * strength)`; `prepare_latents` samples the encoder's latent
    /// distribution (one draw, for the one image), scales it, repeats it per image, then
    /// draws the batch's noise and adds it at the first timestep run. A tiny autoencoder's
    /// latents are taken as they are (`retrieve_latents` returns `.latents`: no draw).
    static func imageToImage(_ initImage: InitImage, count: Int, steps: Int, model: StableDiffusionModel,
                             tinyAutoencoder: AutoencoderTiny? = nil,
                             scheduler: inout any Scheduler, random: inout TorchRandom) -> StartingLatents {
        let initSteps = min(Int(Double(steps) * initImage.strength), steps)
        // diffusers multiplies by the scheduler's order, which is 1 for every scheduler Easel has.
        let beginIndex = steps - initSteps
        scheduler.setBeginIndex(beginIndex)

        let image = initImage.image.normalizedTensor()
        let encoded: Tensor  // [1, C, h, w]
        if let tinyAutoencoder {
            encoded = tinyAutoencoder.encode(image) * Float(tinyAutoencoder.config.scalingFactor)
        } else {
            let distribution = model.vae.encode(image)
            let sampled = distribution.sample(noise: random.randn(distribution.mean.shape))
            encoded = sampled * Float(model.vae.config.scalingFactor)
        }
        let batch = Tensor.concatenate(Array(repeating: encoded, count: count), axis: 0)
        let noise = random.randn(batch.shape)
        let latents = scheduler.addNoise(batch, noise: noise, timestep: scheduler.timesteps[beginIndex])
        return StartingLatents(latents: latents, beginIndex: beginIndex)
    }

    /// What makes `initImage` unusable for `request` on `model`, one message each.
    static func problems(with initImage: InitImage, request: GenerationRequest,
                         model: StableDiffusionModel, tinyAutoencoder: AutoencoderTiny? = nil) -> [String] {
        var problems: [String] = []
        let strength = initImage.strength
        if !(strength > 0 && strength <= 1) {
            problems.append("strength must be greater than 0 and at most 1 (got \(strength))")
        } else if request.steps >= 1 && Int(Double(request.steps) * strength) < 1 {
            problems.append("strength \(strength) with \(request.steps) steps runs no step: "
                            + "steps x strength must be at least 1")
        }
        let image = initImage.image
        if image.width != request.width || image.height != request.height {
            problems.append("the init image is \(image.width)x\(image.height) but the request asks for "
                            + "\(request.width)x\(request.height); resize the image or leave width and height out")
        }
        if let tinyAutoencoder {
            if !tinyAutoencoder.hasEncoder {
                problems.append("the tiny autoencoder (\(tinyAutoencoder.location)) has no encoder, which image to image "
                                + "needs (madebyollin's taesd_encoder.safetensors beside its decoder)")
            }
        } else if !model.vae.hasEncoder {
            problems.append("this model was loaded without its VAE encoder, which image to image needs")
        }
        return problems
    }
}

extension RGBImage {
    /// `[1, 3, H, W]` in [-1, 1], as diffusers' image processor makes it: `x / 255` in
    /// float32, then `2x - 1`.
    func normalizedTensor() -> Tensor {
        let plane = width * height
        var values = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            for c in 0..<3 {
                values[c * plane + i] = 2 * (Float(pixels[3 * i + c]) / 255) - 1
            }
        }
        return Tensor(shape: [1, 3, height, width], scalars: values)
    }
}
