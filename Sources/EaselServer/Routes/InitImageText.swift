import Foundation

/// The text form of an uploaded init image: plain base64, or a `data:` URL
/// (`data:image/png;base64,...`, `data:image/jpeg;base64,...`). The length is checked
/// before anything is decoded.
enum InitImageText {
    struct Problem: Error {
        var message: String
    }

    static func decode(_ text: String, maxBytes: Int) -> Result<Data, Problem> {
        var payload = Substring(text)
        if payload.hasPrefix("data:") {
            guard let comma = payload.firstIndex(of: ",") else {
                return .failure(Problem(message: "initImage is a data: URL without a comma before its data"))
            }
            let header = payload[payload.index(payload.startIndex, offsetBy: 5)..<comma].lowercased()
            guard header.hasSuffix(";base64") else {
                return .failure(Problem(message: "initImage must be a base64 data: URL (data:image/png;base64,...)"))
            }
            let type = header.dropLast(";base64".count)
            guard ["image/png", "image/jpeg", "image/jpg", ""].contains(type) else {
                return .failure(Problem(message: "initImage must be a PNG or JPEG image (got \(type))"))
            }
            payload = payload[payload.index(after: comma)...]
        }
        // Base64 is 4 characters per 3 bytes; allow line breaks, which some encoders add.
        guard payload.utf8.count <= (maxBytes + 2) / 3 * 4 + payload.utf8.count / 64 * 2 + 2 else {
            return .failure(Problem(message: "initImage must not be larger than \(maxBytes) bytes (this server's limit)"))
        }
        let compact = payload.filter { !$0.isWhitespace }
        guard !compact.isEmpty else { return .failure(Problem(message: "initImage should not be empty")) }
        guard let data = Data(base64Encoded: String(compact)) else {
            return .failure(Problem(message: "initImage must be base64 (a PNG or JPEG file), or a data: URL"))
        }
        guard data.count <= maxBytes else {
            return .failure(Problem(message: "initImage must not be larger than \(maxBytes) bytes (this server's limit)"))
        }
        return .success(data)
    }
}
