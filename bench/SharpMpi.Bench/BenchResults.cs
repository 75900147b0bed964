using System.Text.Json;

namespace SharpMpi.Bench;

/// <summary>One OSU result row: the value (latency in us or bandwidth in MB/s) and, for collectives, min/max.</summary>
internal sealed record OsuRow(long Size, double Value, double? Min = null, double? Max = null, int? Iterations = null);

/// <summary>Collects rank 0's rows of an OSU verb for <c>--json</c>.</summary>
internal sealed class BenchResults(string benchmark, int ranks)
{
    private readonly List<OsuRow> _rows = [];

    public string Unit { get; set; } = "us";

    public void Add(OsuRow row) => _rows.Add(row);

    public void Write(string path) =>
        BenchJson.Write(path, new
        {
            benchmark,
            implementation = "SharpMPI",
            ranks,
            unit = Unit,
            results = _rows.Select(r => new { size = r.Size, value = r.Value, min = r.Min, max = r.Max, iterations = r.Iterations }),
        });
}

internal static class BenchJson
{
    private static readonly JsonSerializerOptions s_options = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    public static void Write(string path, object value)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
            Directory.CreateDirectory(dir);
        File.WriteAllText(path, JsonSerializer.Serialize(value, s_options) + Environment.NewLine);
    }
}
