import Crypto
import Foundation

/// Secrets and unguessable identifiers: API keys (stored only as SHA-256), webhook
/// secrets, webhook message ids and image ids. All randomness is the system CSPRNG.
public enum Credentials {
    /// Prefix that makes Easel keys recognisable in logs and secret scanners.
    public static let keyPrefix = "easel_"

    /// A new API key: `easel_` and 40 hex digits (160 random bits).
    public static func newAPIKey() -> String {
        keyPrefix + hex(randomBytes(20))
    }

    /// Short public id of a key, shown by `easel keys list` and used to revoke it.
    public static func newKeyId() -> String {
        hex(randomBytes(4))
    }

    /// The stored form of a key: lower-case hex SHA-256.
    public static func hash(apiKey: String) -> String {
        hex(Array(SHA256.hash(data: Data(apiKey.utf8))))
    }

    /// A Standard Webhooks secret: `whsec_` and base64 of 24 random bytes.
    public static func newWebhookSecret() -> String {
        "whsec_" + Data(randomBytes(24)).base64EncodedString()
    }

    /// A webhook message id (`webhook-id` header), stable across retries.
    public static func newMessageId() -> String {
        "msg_" + hex(randomBytes(12))
    }

    /// An image id: 128 random bits, the unguessable part of the image URI.
    public static func newImageId() -> String {
        hex(randomBytes(16))
    }

    /// Hex SHA-256 of arbitrary bytes.
    public static func digest(_ data: Data) -> String {
        hex(Array(SHA256.hash(data: data)))
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
