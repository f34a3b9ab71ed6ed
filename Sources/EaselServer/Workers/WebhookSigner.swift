import Crypto
import Foundation

/// Standard Webhooks signatures (https://www.standardwebhooks.com): the signed content is
/// `"{webhook-id}.{webhook-timestamp}.{body}"`, signed with HMAC-SHA256 under the
/// base64-decoded part of the `whsec_` secret, sent as `webhook-signature: v1,<base64>`.
public enum WebhookSigner {
    public static func signature(secret: String, messageId: String, timestamp: Int, payload: Data) throws -> String {
        let key = SymmetricKey(data: try keyBytes(secret))
        var content = Data("\(messageId).\(timestamp).".utf8)
        content.append(payload)
        let mac = HMAC<SHA256>.authenticationCode(for: content, using: key)
        return "v1," + Data(mac).base64EncodedString()
    }

    /// Whether any `v1,` signature in a `webhook-signature` header (space-separated list)
    /// matches. Receivers do this; the tests use it to check deliveries.
    public static func verify(
        secret: String, messageId: String, timestamp: Int, payload: Data, signatureHeader: String
    ) -> Bool {
        guard let expected = try? signature(secret: secret, messageId: messageId, timestamp: timestamp, payload: payload)
        else { return false }
        return signatureHeader.split(separator: " ").contains { constantTimeEqual(String($0), expected) }
    }

    static func keyBytes(_ secret: String) throws -> Data {
        let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        guard let bytes = Data(base64Encoded: encoded), !bytes.isEmpty else {
            throw WebhookSignerError.malformedSecret
        }
        return bytes
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// The workspace's webhook secret is not `whsec_` plus base64.
public enum WebhookSignerError: Error, CustomStringConvertible {
    case malformedSecret
    public var description: String { "webhook secret is not 'whsec_' followed by base64" }
}
