/// What text a request may carry. Control characters are refused rather than passed on:
/// a NUL truncates the prompt in C strings (SQLite's text binding, the tokenizer), and
/// the others are invisible in logs and UIs, so what is stored and shown could differ
/// from what was asked.
///
/// Refused: every scalar of Unicode's Control category (C0 U+0000–U+001F, DEL U+007F,
/// C1 U+0080–U+009F), except those a field explicitly allows. Prompts allow tab, line
/// feed and carriage return (a pasted multi-line prompt is ordinary); URLs allow none.
/// Lone surrogates cannot reach here: the JSON parser refuses unpaired `\u` escapes and a
/// Swift `String` cannot hold one.
enum TextRules {
    static let lineBreaksAndTab: Set<Unicode.Scalar> = ["\t", "\n", "\r"]

    /// The 400 message for the first control character in `text`, or nil when it has none.
    static func controlCharacterProblem(
        _ field: String, _ text: String, allowing allowed: Set<Unicode.Scalar>
    ) -> String? {
        guard let found = text.unicodeScalars.first(where: { isControl($0) && !allowed.contains($0) }) else {
            return nil
        }
        let code = String(found.value, radix: 16, uppercase: true)
        return "\(field) must not contain control characters (found U+\(String(repeating: "0", count: max(0, 4 - code.count)))\(code))"
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .control
    }
}
