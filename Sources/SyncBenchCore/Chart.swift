import Foundation

/// Draws the report's chart as SVG: cumulative bytes over time per approach (left), and freshness
/// p50/p99 per approach (right, log scale) — the batch-vs-stream picture of LIMS's old Grafana board.
public enum Chart {
    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]

    public static func svg(_ report: BenchReport) -> String {
        let width = 960.0
        let height = 420.0
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>

            """
        // Left panel: cumulative bytes.
        let left = (x: 70.0, y: 40.0, w: 520.0, h: 320.0)
        let names = report.approaches.map(\.name)
        let maxT = max(1, report.series.values.flatMap { $0.map(\.t) }.max() ?? 1)
        let maxB = max(1, report.series.values.flatMap { $0.map(\.bytes) }.max() ?? 1)
        // Log scale in MB: batch copies and streamed events differ by orders of magnitude.
        let top = log10(Double(maxB) / 1e6).rounded(.up)
        let bottom = min(top - 1, -2.0)
        func yBytes(_ bytes: Int) -> Double {
            let v = log10(max(Double(bytes) / 1e6, pow(10, bottom)))
            return left.y + left.h - left.h * (v - bottom) / (top - bottom)
        }
        svg += text(left.x + left.w / 2, 22, "Cumulative bytes on the wire (MB, log)", anchor: "middle", bold: true)
        svg += axes(left, xLabel: "seconds since start", yLabel: "MB")
        var decade = bottom
        while decade <= top {
            let y = yBytes(Int(pow(10, decade) * 1e6))
            svg += line(left.x - 4, y, left.x + left.w, y, color: "#ddd")
            svg += text(left.x - 6, y + 4, String(format: "%g", pow(10, decade)), anchor: "end")
            decade += 1
        }
        for i in 0...4 {
            let x = left.x + left.w * Double(i) / 4
            svg += text(x, left.y + left.h + 16, String(format: "%.0f", maxT * Double(i) / 4), anchor: "middle")
        }
        for (index, name) in names.enumerated() {
            guard let points = report.series[name], !points.isEmpty else { continue }
            let path = points.map { p in
                String(format: "%.1f,%.1f", left.x + left.w * p.t / maxT, yBytes(p.bytes))
            }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(colors[index % colors.count])\" stroke-width=\"2\" points=\"\(path)\"/>\n"
            svg +=
                "<rect x=\"\(left.x + 10)\" y=\"\(left.y + 8 + Double(index) * 16)\" width=\"12\" height=\"4\" fill=\"\(colors[index % colors.count])\"/>\n"
            let total = points.last.map { String(format: " (%.1f MB)", Double($0.bytes) / 1e6) } ?? ""
            svg += text(left.x + 28, left.y + 14 + Double(index) * 16, name + total, anchor: "start")
        }
        // Right panel: freshness (log scale).
        let right = (x: 660.0, y: 40.0, w: 270.0, h: 320.0)
        svg += text(right.x + right.w / 2, 22, "Freshness: commit → visible (s, log)", anchor: "middle", bold: true)
        svg += axes(right, xLabel: "p50 (solid) and p99 (light)", yLabel: "")
        let values = report.approaches.flatMap { [$0.freshness.p50, $0.freshness.p99] }.compactMap { $0 }.filter { $0 > 0 }
        let lo = log10(max(0.001, values.min() ?? 0.01)).rounded(.down)
        let hi = max(lo + 1, log10(max(0.01, values.max() ?? 1)).rounded(.up))
        func y(_ v: Double) -> Double { right.y + right.h - right.h * (log10(max(v, pow(10, lo))) - lo) / (hi - lo) }
        decade = lo
        while decade <= hi {
            svg += line(right.x - 4, y(pow(10, decade)), right.x + right.w, y(pow(10, decade)), color: "#ddd")
            svg += text(right.x - 6, y(pow(10, decade)) + 4, String(format: "%g", pow(10, decade)), anchor: "end")
            decade += 1
        }
        let slot = right.w / Double(max(1, names.count))
        for (index, approach) in report.approaches.enumerated() {
            let x = right.x + slot * Double(index) + slot * 0.15
            let color = colors[index % colors.count]
            if let p99 = approach.freshness.p99 {
                svg +=
                    "<rect x=\"\(x)\" y=\"\(y(p99))\" width=\"\(slot * 0.7)\" height=\"\(right.y + right.h - y(p99))\" fill=\"\(color)\" opacity=\"0.35\"/>\n"
            }
            if let p50 = approach.freshness.p50 {
                svg +=
                    "<rect x=\"\(x + slot * 0.15)\" y=\"\(y(p50))\" width=\"\(slot * 0.4)\" height=\"\(right.y + right.h - y(p50))\" fill=\"\(color)\"/>\n"
            }
            svg += text(x + slot * 0.35, right.y + right.h + 16, approach.name, anchor: "middle")
        }
        return svg + "</svg>\n"
    }

    static func axes(_ r: (x: Double, y: Double, w: Double, h: Double), xLabel: String, yLabel: String) -> String {
        line(r.x, r.y, r.x, r.y + r.h, color: "#333") + line(r.x, r.y + r.h, r.x + r.w, r.y + r.h, color: "#333")
            + text(r.x + r.w / 2, r.y + r.h + 34, xLabel, anchor: "middle")
            + (yLabel.isEmpty
                ? ""
                : "<text x=\"\(r.x - 48)\" y=\"\(r.y + r.h / 2)\" transform=\"rotate(-90 \(r.x - 48) \(r.y + r.h / 2))\" text-anchor=\"middle\">\(yLabel)</text>\n")
    }

    static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, color: String) -> String {
        String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" ", x1, y1, x2, y2) + "stroke=\"\(color)\"/>\n"
    }

    static func text(_ x: Double, _ y: Double, _ content: String, anchor: String, bold: Bool = false) -> String {
        let escaped = content.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        return
            "<text x=\"\(String(format: "%.1f", x))\" y=\"\(String(format: "%.1f", y))\" text-anchor=\"\(anchor)\"\(bold ? " font-weight=\"bold\"" : "")>\(escaped)</text>\n"
    }
}
