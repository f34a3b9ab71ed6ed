import Foundation

// The job entity written by hand (`WireJSONWriter`): keys in code-point order, as
// JSONEncoder's `.sortedKeys` writes them, nil fields left out. A field added to one of
// these types must be added here too; `WireJSONWriterTests` compares every field with
// JSONEncoder's output and fails until it is.

extension InferenceEntity {
    func write(to json: inout WireJSONWriter) throws {
        json.beginObject()
        json.field("cancelRequested", cancelRequested)
        json.field("createdAt", createdAt)
        json.field("currentStep", currentStep)
        json.field("errorReason", errorReason)
        try json.field("estimatedSecondsLeft", estimatedSecondsLeft)
        json.field("finishedAt", finishedAt)
        json.field("height", height)
        json.field("id", id)
        json.key("images")
        json.beginArray()
        for image in images { image.write(to: &json) }
        json.endArray()
        json.field("modelId", modelId)
        json.field("negativePrompt", negativePrompt)
        json.field("numberOfImages", numberOfImages)
        if let preview {
            json.key("preview")
            preview.write(to: &json)
        }
        json.field("prompt", prompt)
        try json.field("promptStrength", promptStrength)
        json.field("queuePosition", queuePosition)
        json.field("seed", seed)
        json.field("startedAt", startedAt)
        json.field("state", state)
        json.field("status", status)
        json.field("steps", steps)
        try json.field("strength", strength)
        if let timings {
            json.key("timings")
            try timings.write(to: &json)
        }
        json.field("totalSteps", totalSteps)
        json.field("upscalingOption", upscalingOption)
        json.field("width", width)
        json.endObject()
    }

    /// This entity's JSON, byte for byte `WireJSON.encode(self)`.
    func json() throws -> Data {
        var json = WireJSONWriter()
        try write(to: &json)
        return Data(json.bytes)
    }

    /// A list of entities' JSON, byte for byte `WireJSON.encode(entities)`.
    static func json(_ entities: [InferenceEntity]) throws -> Data {
        var json = WireJSONWriter(capacity: 1024 * max(entities.count, 1))
        json.beginArray()
        for entity in entities { try entity.write(to: &json) }
        json.endArray()
        return Data(json.bytes)
    }
}

extension InferenceImageEntity {
    func write(to json: inout WireJSONWriter) {
        json.beginObject()
        json.field("createdAt", createdAt)
        json.field("id", id)
        json.field("uri", uri)
        json.endObject()
    }
}

extension InferencePreviewEntity {
    func write(to json: inout WireJSONWriter) {
        json.beginObject()
        json.field("step", step)
        json.field("uri", uri)
        json.endObject()
    }
}

extension InferenceTimings {
    func write(to json: inout WireJSONWriter) throws {
        json.beginObject()
        try json.field("generationSeconds", generationSeconds)
        try json.field("queuedSeconds", queuedSeconds)
        try json.field("secondsPerStep", secondsPerStep)
        try json.field("totalSeconds", totalSeconds)
        try json.field("warmupSeconds", warmupSeconds)
        json.endObject()
    }
}
