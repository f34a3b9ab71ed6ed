import EaselDiffusion

/// Reads a picture of the bundled model's shapes world back: what scripts/shapes.py's `analyse`
/// does, so the Swift test and the training script judge pictures the same way.
///
/// Background: the most common palette colour along the border. Shape: pixels whose nearest
/// palette colour is not the background's and that lie more than 40 (RGB distance) from it; its
/// colour is their most common palette colour, its place the 3x3 grid cell of their centroid.
/// Ties between colours go to the alphabetically first name, as numpy's `unique` + `argmax` do.
struct ShapeReader {
    let palette: [(name: String, rgb: (Float, Float, Float))]

    init(palette: [String: [Int]]) {
        self.palette = palette.keys.sorted().map { name in
            let c = palette[name]!
            return (name, (Float(c[0]), Float(c[1]), Float(c[2])))
        }
    }

    struct Reading: Equatable {
        var background: String
        var colour: String?
        var position: String?
        var shape: String?
    }

    static let positions: [[String]] = [
        ["top left", "top", "top right"],
        ["left", "centre", "right"],
        ["bottom left", "bottom", "bottom right"],
    ]

    func read(_ image: RGBImage) -> Reading {
        let w = image.width, h = image.height
        var labels = [Int](repeating: 0, count: w * h)
        func rgb(_ i: Int) -> (Float, Float, Float) {
            (Float(image.pixels[3 * i]), Float(image.pixels[3 * i + 1]), Float(image.pixels[3 * i + 2]))
        }
        func distance2(_ a: (Float, Float, Float), _ b: (Float, Float, Float)) -> Float {
            let (dr, dg, db) = (a.0 - b.0, a.1 - b.1, a.2 - b.2)
            return dr * dr + dg * dg + db * db
        }
        for i in 0..<(w * h) {
            let p = rgb(i)
            var best = 0
            for k in 1..<palette.count where distance2(p, palette[k].rgb) < distance2(p, palette[best].rgb) { best = k }
            labels[i] = best
        }
        func mode(_ indices: [Int]) -> Int {
            var counts = [Int](repeating: 0, count: palette.count)
            for i in indices { counts[labels[i]] += 1 }
            return counts.indices.max { counts[$0] < counts[$1] || (counts[$0] == counts[$1] && $0 > $1) }!
        }
        var border: [Int] = []
        for x in 0..<w { border += [x, (h - 1) * w + x] }
        for y in 0..<h { border += [y * w, y * w + w - 1] }
        let background = mode(border)
        let foreground = (0..<(w * h)).filter {
            labels[$0] != background && distance2(rgb($0), palette[background].rgb) > 40 * 40
        }
        var reading = Reading(background: palette[background].name)
        guard foreground.count >= 6 else { return reading }
        let colour = mode(foreground)
        let mask = foreground.filter { labels[$0] == colour }
        let cx = mask.map { Double($0 % w) + 0.5 }.reduce(0, +) / Double(mask.count)
        let cy = mask.map { Double($0 / w) + 0.5 }.reduce(0, +) / Double(mask.count)
        let column = min(Int(cx / (Double(w) / 3)), 2)
        let row = min(Int(cy / (Double(h) / 3)), 2)
        reading.colour = palette[colour].name
        reading.position = Self.positions[row][column]
        reading.shape = Self.shape(mask: Set(mask), width: w)
        return reading
    }

    /// Square and circle by how much of their bounding box they fill; triangle (widest along its
    /// bottom) and star (widest across its arms, a third of the way down) by where they are widest.
    static func shape(mask: Set<Int>, width w: Int) -> String {
        let xs = mask.map { $0 % w }, ys = mask.map { $0 / w }
        let (x0, x1, y0, y1) = (xs.min()!, xs.max()!, ys.min()!, ys.max()!)
        let boxW = x1 - x0 + 1, boxH = y1 - y0 + 1
        let fill = Double(mask.count) / Double(boxW * boxH)
        if fill > 0.9 { return "square" }
        if fill > 0.68 { return "circle" }
        var widths = [Int](repeating: 0, count: boxH)
        for i in mask { widths[i / w - y0] += 1 }
        let top = Double(widths.max()!) * 0.9
        let widest = widths.indices.filter { Double(widths[$0]) >= top }
        let where_ = Double(widest.reduce(0, +)) / Double(widest.count) / Double(max(1, boxH - 1))
        return where_ > 0.7 ? "triangle" : "star"
    }
}
