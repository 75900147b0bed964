// Plots bench/compare's summary: SharpMpi.Bench.Plot PREFIX reads PREFIX.json (written by
// `SharpMpi.Bench summarize`) and writes PREFIX-latency.png (point-to-point and collective latency) and
// PREFIX-bandwidth.png (bw, bibw), both log-log, Open MPI dashed and SharpMPI solid.
using System.Globalization;
using System.Text.Json;
using ScottPlot;

if (args.Length != 1)
{
    Console.Error.WriteLine("usage: SharpMpi.Bench.Plot PREFIX   (reads PREFIX.json, writes PREFIX-latency.png and PREFIX-bandwidth.png)");
    return 2;
}
string prefix = args[0];
if (!File.Exists(prefix + ".json"))
{
    Console.Error.WriteLine($"SharpMpi.Bench.Plot: {prefix}.json not found");
    return 1;
}

using var document = JsonDocument.Parse(File.ReadAllText(prefix + ".json"));
var rows = document.RootElement.GetProperty("results").EnumerateArray().Select(r => new Row(
    r.GetProperty("config").GetString() ?? "",
    r.GetProperty("benchmark").GetString() ?? "",
    r.GetProperty("size").GetInt64(),
    r.GetProperty("openmpi").GetDouble(),
    r.GetProperty("sharpmpi").GetDouble())).ToList();

Draw("latency", "one-way / per-call latency (us)", ["latency", "osu-allreduce", "osu-bcast"]);
Draw("bandwidth", "bandwidth (MB/s)", ["bw", "bibw"]);
return 0;

void Draw(string name, string yLabel, string[] benchmarks)
{
    var plot = new Plot();
    var palette = new ScottPlot.Palettes.Category10();
    int colorIndex = 0;
    bool any = false;
    foreach (var group in rows.Where(r => benchmarks.Contains(r.Benchmark) && r.Size > 0 && r.OpenMpi > 0 && r.SharpMpi > 0)
                 .GroupBy(r => (r.Config, r.Benchmark)).OrderBy(g => g.Key.Config, StringComparer.Ordinal).ThenBy(g => Array.IndexOf(benchmarks, g.Key.Benchmark)))
    {
        var points = group.OrderBy(r => r.Size).ToArray();
        double[] xs = [.. points.Select(p => Math.Log10(p.Size))];
        var color = palette.GetColor(colorIndex++);
        string label = $"{group.Key.Benchmark} {group.Key.Config}";
        var ompi = plot.Add.Scatter(xs, points.Select(p => Math.Log10(p.OpenMpi)).ToArray());
        ompi.Color = color;
        ompi.LinePattern = LinePattern.Dashed;
        ompi.LegendText = $"Open MPI {label}";
        var sharp = plot.Add.Scatter(xs, points.Select(p => Math.Log10(p.SharpMpi)).ToArray());
        sharp.Color = color;
        sharp.LegendText = $"SharpMPI {label}";
        any = true;
    }
    if (!any)
        return;
    plot.Axes.Bottom.TickGenerator = LogTicks(v => v >= 1 << 20 ? $"{v / (1 << 20):0.#}M" : v >= 1024 ? $"{v / 1024:0.#}K" : $"{v:0}");
    plot.Axes.Left.TickGenerator = LogTicks(v => v.ToString("G4", CultureInfo.InvariantCulture));
    plot.Axes.Bottom.Label.Text = "message size (bytes)";
    plot.Axes.Left.Label.Text = yLabel;
    plot.Title($"SharpMPI (solid) vs Open MPI (dashed): {name}");
    plot.ShowLegend(Alignment.UpperLeft);
    string path = $"{prefix}-{name}.png";
    plot.SavePng(path, 1000, 650);
    Console.WriteLine($"written: {path}");
}

static ScottPlot.TickGenerators.NumericAutomatic LogTicks(Func<double, string> format) => new()
{
    MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
    IntegerTicksOnly = true,
    LabelFormatter = y => format(Math.Pow(10, y)),
};

internal sealed record Row(string Config, string Benchmark, long Size, double OpenMpi, double SharpMpi);
