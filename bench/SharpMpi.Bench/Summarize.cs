using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SharpMpi.Bench;

/// <summary>
/// Reads the raw outputs of bench/compare (files <c>{impl}-{benchmark}-{round}.txt</c> in OSU format) and
/// prints, per benchmark and size, the median of each implementation and the ratio SharpMPI ÷ native for
/// latency (lower is better) and for bandwidth (higher is better). Writes the same as Markdown and JSON.
/// </summary>
internal static class Summarize
{
    public static int Run(string rawDirectory, string outputPrefix, string description)
    {
        // benchmark -> impl -> size -> values
        var data = new SortedDictionary<string, Dictionary<string, SortedDictionary<long, List<double>>>>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(rawDirectory, "*.txt"))
        {
            var parts = Path.GetFileNameWithoutExtension(file).Split('-');
            if (parts.Length < 3)
                continue;
            string impl = parts[0], benchmark = parts[1];
            var byImpl = data.TryGetValue(benchmark, out var b) ? b : data[benchmark] = [];
            var bySize = byImpl.TryGetValue(impl, out var s) ? s : byImpl[impl] = [];
            foreach (var line in File.ReadLines(file))
            {
                if (line.StartsWith('#'))
                    continue;
                var cols = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (cols.Length < 2 || !long.TryParse(cols[0], CultureInfo.InvariantCulture, out long size)
                    || !double.TryParse(cols[1], CultureInfo.InvariantCulture, out double value))
                    continue;
                (bySize.TryGetValue(size, out var values) ? values : bySize[size] = []).Add(value);
            }
        }

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# SharpMPI vs Open MPI — {description}");
        md.AppendLine();
        var json = new List<object>();
        foreach (var (benchmark, byImpl) in data)
        {
            if (!byImpl.TryGetValue("sharpmpi", out var sharp) || !byImpl.TryGetValue("native", out var native))
                continue;
            bool latency = benchmark == "latency";
            string unit = latency ? "us" : "MB/s";
            md.AppendLine(CultureInfo.InvariantCulture, $"## {benchmark} ({unit}, median of rounds; ratio = SharpMPI ÷ Open MPI, {(latency ? "lower" : "higher")} is better)");
            md.AppendLine();
            md.AppendLine("| size (B) | Open MPI | SharpMPI | ratio |");
            md.AppendLine("|---:|---:|---:|---:|");
            foreach (var (size, values) in sharp)
            {
                if (!native.TryGetValue(size, out var nvalues))
                    continue;
                double ms = Median(values), mn = Median(nvalues);
                double ratio = mn == 0 ? double.NaN : ms / mn;
                md.AppendLine(CultureInfo.InvariantCulture, $"| {size} | {mn:F2} | {ms:F2} | {ratio:F2} |");
                json.Add(new { benchmark, size, unit, openmpi = mn, sharpmpi = ms, ratio, rounds = values.Count });
            }
            md.AppendLine();
        }
        string text = md.ToString();
        Console.Write(text);
        File.WriteAllText(outputPrefix + ".md", text);
        File.WriteAllText(outputPrefix + ".json", JsonSerializer.Serialize(new { description, results = json }, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"written: {outputPrefix}.md, {outputPrefix}.json");
        return 0;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.ToArray();
        Array.Sort(sorted);
        int n = sorted.Length;
        return n == 0 ? double.NaN : n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
