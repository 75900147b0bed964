using System.Globalization;

namespace SharpMpi.Diagnostics;

/// <summary>
/// What a rank is blocked in, as reported to the launcher's deadlock detector (KVS <c>Blocked</c> request).
/// Ranks are world ranks. Encoded as tab-separated fields in a fixed order.
/// </summary>
/// <param name="Call">Send, SendSync, Receive, Probe, Wait, ... or a collective's name.</param>
/// <param name="Comm">Communicator name.</param>
/// <param name="Context">Point-to-point context id of the communicator (identifies it across ranks).</param>
/// <param name="PeerWorld">World rank the operation waits for, -1 for any source, -2 when unknown.</param>
/// <param name="Tag">Tag, -1 for any.</param>
/// <param name="Bytes">Message or buffer size in bytes, -1 when unknown.</param>
/// <param name="Collective">Name of the collective the wait belongs to, or empty.</param>
/// <param name="Sequence">Collective call number on the communicator (every rank counts the same calls).</param>
/// <param name="Root">Root of a rooted collective, -1 otherwise.</param>
/// <param name="Inner">For a collective: the internal operation waited for (Send or Receive), or empty.</param>
internal sealed record BlockedState(string Call, string Comm, int Context, int PeerWorld, int Tag, long Bytes,
    string Collective, int Sequence, int Root, string Inner)
{
    public string Encode() => string.Join('\t',
        Clean(Call), Clean(Comm), I(Context), I(PeerWorld), I(Tag), Bytes.ToString(CultureInfo.InvariantCulture),
        Clean(Collective), I(Sequence), I(Root), Clean(Inner));

    public static BlockedState? Decode(string text)
    {
        string[] f = text.Split('\t');
        if (f.Length < 10)
            return null;
        static int P(string s) => int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) ? v : -2;
        return new BlockedState(f[0], f[1], P(f[2]), P(f[3]), P(f[4]),
            long.TryParse(f[5], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long b) ? b : -1,
            f[6], P(f[7]), P(f[8]), f[9]);
    }

    public bool IsCollective => Collective.Length > 0;

    /// <summary>Human form: <c>Send(dest 1, tag 0, 4 MiB)</c>, <c>Barrier(World, call #3)</c>.</summary>
    public override string ToString()
    {
        string on = Comm == "World" ? "" : $", {Comm}";
        if (IsCollective)
        {
            string root = Root >= 0 ? $", root {Root}" : "";
            string inner = Inner.Length > 0 ? $"; inside: {Inner} {PeerText("rank")}" : "";
            return $"{Collective}({Comm}, call #{Sequence}{root}{inner})";
        }
        string peer = Call.StartsWith("Send", StringComparison.Ordinal) ? PeerText("dest") : PeerText("source");
        string tag = Tag == -1 ? "any tag" : $"tag {Tag}";
        string size = Bytes >= 0 ? $", {Size(Bytes)}" : "";
        return $"{Call}({peer}, {tag}{size}{on})";
    }

    private string PeerText(string what) => PeerWorld switch
    {
        -1 => $"{what} any",
        -2 => $"{what} ?",
        _ => $"{what} {PeerWorld}",
    };

    /// <summary>Bytes as people read them: 12 B, 64 KiB, 4 MiB, 1.5 GiB.</summary>
    public static string Size(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.Length - 1)
        {
            v /= 1024;
            u++;
        }
        return u == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{v:0.##} {units[u]}");
    }

    private static string I(int v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Clean(string s) => s.Replace('\t', ' ').Replace('\n', ' ');
}
