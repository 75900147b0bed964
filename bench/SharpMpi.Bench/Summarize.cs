using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SharpMpi.Bench;

/// <summary>
/// Reads the raw outputs of bench/compare and prints, per configuration (a subfolder such as <c>shm-np2</c>),
/// benchmark and size, the median over rounds of each implementation and the ratio SharpMPI ÷ Open MPI, for
/// latencies and times (lower is better) and bandwidths (higher is better). Writes the same as Markdown and JSON.
/// </summary>
/// <remarks>
/// Raw files are <c>{impl}-{benchmark}-{round}.txt</c> with impl <c>openmpi</c>, <c>sharpmpi</c>, <c>sharpmpiaot</c>
/// (the same SharpMPI program published with NativeAOT; the launch benchmark has it) or <c>mpich</c>
/// (<c>native</c> is read as <c>openmpi</c>), in OSU format: comment lines start with '#', rows are
/// <c>size value ...</c> (a single value is size 0, as osu_barrier prints). Every row of a file counts as one
/// sample, so a file may hold several repetitions (the launch timings do). A <c>SKIPPED</c> file in a
/// configuration folder holds the reason it was not measured, shown in the report.
/// </remarks>
internal static class Summarize
{
    private static readonly string[] s_order = ["launch", "latency", "bw", "bibw", "multi-lat", "osu-allreduce", "osu-bcast", "osu-barrier",
        "osu-reduce", "osu-allgather", "osu-alltoall"];

    public static int Run(string rawDirectory, string outputPrefix, string description)
    {
        var configs = Directory.GetDirectories(rawDirectory).OrderBy(ConfigOrder).ThenBy(d => d, StringComparer.Ordinal).ToList();
        if (Directory.EnumerateFiles(rawDirectory, "*.txt").Any())
            configs.Insert(0, rawDirectory);

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# SharpMPI vs Open MPI — {description}");
        md.AppendLine();
        md.AppendLine("Medians over rounds (run interleaved, the order alternating per round). Ratio = SharpMPI ÷ Open MPI for the value shown:");
        md.AppendLine("for latencies and times > 1 means SharpMPI is slower; for bandwidths < 1 means SharpMPI is slower.");
        md.AppendLine();
        var json = new List<object>();
        foreach (string configDir in configs)
        {
            string config = configDir == rawDirectory ? "" : Path.GetFileName(configDir);
            string skipped = Path.Combine(configDir, "SKIPPED");
            if (File.Exists(skipped))
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"## {ConfigTitle(config)}: skipped — {File.ReadAllText(skipped).Trim()}");
                md.AppendLine();
                continue;
            }
            var data = Read(configDir);
            foreach (var (benchmark, byImpl) in data.OrderBy(kv => Order(kv.Key)).ThenBy(kv => kv.Key, StringComparer.Ordinal))
            {
                if (!byImpl.TryGetValue("sharpmpi", out var sharp) || !byImpl.TryGetValue("openmpi", out var ompi))
                    continue;
                byImpl.TryGetValue("mpich", out var mpich);
                byImpl.TryGetValue("sharpmpiaot", out var aot);
                string unit = Unit(benchmark);
                bool higherIsBetter = unit == "MB/s";
                md.AppendLine(CultureInfo.InvariantCulture, $"## {ConfigTitle(config)}{(config.Length > 0 ? ": " : "")}{benchmark} ({unit}, {(higherIsBetter ? "higher" : "lower")} is better)");
                md.AppendLine();
                md.AppendLine($"| size (B) | Open MPI | SharpMPI | ratio |{(aot is null ? "" : " SharpMPI NativeAOT | ratio |")}{(mpich is null ? "" : " MPICH |")} rounds |");
                md.AppendLine($"|---:|---:|---:|---:|{(aot is null ? "" : "---:|---:|")}{(mpich is null ? "" : "---:|")}---:|");
                foreach (var (size, values) in sharp)
                {
                    if (!ompi.TryGetValue(size, out var nvalues) || (higherIsBetter && size == 0))
                        continue;
                    double ms = Median(values), mo = Median(nvalues);
                    double? ratio = mo == 0 ? null : ms / mo;
                    double? mm = mpich is not null && mpich.TryGetValue(size, out var mv) ? Median(mv) : null;
                    double? ma = aot is not null && aot.TryGetValue(size, out var av) ? Median(av) : null;
                    double? aotRatio = ma is null || mo == 0 ? null : ma / mo;
                    string sizeText = benchmark == "launch" ? $"{size} ranks" : size.ToString(CultureInfo.InvariantCulture);
                    md.AppendLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {sizeText} | {mo:F2} | {ms:F2} | {ratio:F2} |{(aot is null ? "" : $" {ma:F2} | {aotRatio:F2} |")}{(mpich is null ? "" : $" {mm:F2} |")} {values.Count} |"));
                    json.Add(new { config, benchmark, size, unit, openmpi = mo, sharpmpi = ms, sharpmpiAot = ma, mpich = mm, ratio, aotRatio, samples = values.Count });
                    if (benchmark == "launch" && mm is > 0)
                    {
                        // The launch target is MPICH's time, so say how far from it each SharpMPI row is.
                        md.AppendLine(string.Create(CultureInfo.InvariantCulture,
                            $"| ÷ MPICH |  |  | {ms / mm:F2} |{(aot is null ? "" : $"  | {ma / mm:F2} |")}  |  |"));
                    }
                }
                md.AppendLine();
            }
        }
        string text = md.ToString();
        Console.Write(text);
        File.WriteAllText(outputPrefix + ".md", text);
        File.WriteAllText(outputPrefix + ".json", JsonSerializer.Serialize(new { description, results = json }, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"written: {outputPrefix}.md, {outputPrefix}.json");
        return 0;
    }

    /// <summary>benchmark → impl → size → samples.</summary>
    private static SortedDictionary<string, Dictionary<string, SortedDictionary<long, List<double>>>> Read(string directory)
    {
        var data = new SortedDictionary<string, Dictionary<string, SortedDictionary<long, List<double>>>>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(directory, "*.txt"))
        {
            // {impl}-{benchmark}-{round}: the benchmark may itself contain '-' (osu-allreduce, multi-lat).
            var parts = Path.GetFileNameWithoutExtension(file).Split('-');
            if (parts.Length < 3)
                continue;
            string impl = parts[0] == "native" ? "openmpi" : parts[0];
            string benchmark = string.Join('-', parts[1..^1]);
            var byImpl = data.TryGetValue(benchmark, out var b) ? b : data[benchmark] = [];
            var bySize = byImpl.TryGetValue(impl, out var s) ? s : byImpl[impl] = [];
            foreach (var line in File.ReadLines(file))
            {
                if (line.StartsWith('#'))
                    continue;
                var cols = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                long size = 0;
                double value;
                if (cols.Length == 1 && double.TryParse(cols[0], CultureInfo.InvariantCulture, out value))
                {
                }
                else if (cols.Length < 2 || !long.TryParse(cols[0], CultureInfo.InvariantCulture, out size)
                    || !double.TryParse(cols[1], CultureInfo.InvariantCulture, out value))
                {
                    continue;
                }
                (bySize.TryGetValue(size, out var values) ? values : bySize[size] = []).Add(value);
            }
        }
        return data;
    }

    private static string Unit(string benchmark) => benchmark switch
    {
        "bw" or "bibw" => "MB/s",
        _ when benchmark.StartsWith("put-bw", StringComparison.Ordinal) => "MB/s",
        "launch" => "ms",
        _ => "us",
    };

    private static int Order(string benchmark)
    {
        int i = Array.IndexOf(s_order, benchmark);
        return i < 0 ? s_order.Length : i;
    }

    private static int ConfigOrder(string directory) => Path.GetFileName(directory) switch
    {
        "launch" => 0,
        var c when c.StartsWith("shm", StringComparison.Ordinal) => 1,
        _ => 2,
    };

    private static string ConfigTitle(string config)
    {
        if (config.Length == 0)
            return "";
        if (config == "launch")
            return "launch time";
        var parts = config.Split("-np");
        return parts.Length == 2 ? $"{(parts[0] == "shm" ? "shared memory" : parts[0] == "tcp" ? "TCP loopback" : parts[0])}, {parts[1]} ranks" : config;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.ToArray();
        Array.Sort(sorted);
        int n = sorted.Length;
        return n == 0 ? double.NaN : n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
