using System.Globalization;

namespace SharpMpi.Bootstrap;

/// <summary>
/// PMI-1 client (MPICH's pmi-1.1 wire; served by Hydra and Slurm's pmi2 plugin): one request a line,
/// <c>cmd=NAME key=value ...</c>, one reply a line, keys in any order, a missing <c>rc</c> meaning success.
/// </summary>
/// <remarks>
/// Start-up: <c>init</c> (done by <see cref="PmiClient.Connect"/>), with Hydra's <c>-pmi-port</c> mode an
/// <c>initack pmiid=N</c> that answers with <c>set size=</c> / <c>set rank=</c>, then <c>get_maxes</c> and
/// <c>get_my_kvsname</c>. Rank and size otherwise come from <c>PMI_RANK</c> / <c>PMI_SIZE</c>.
/// </remarks>
internal sealed class Pmi1Client : PmiClient
{
    private string _kvsName = "";

    private Pmi1Client(PmiChannel channel)
        : base(channel)
    {
    }

    public override string Version => "PMI-1";

    /// <summary>Initializes PMI-1 on <paramref name="channel"/> (nothing sent on it yet, or only a declined PMI-2 init).</summary>
    /// <exception cref="IOException">The server refused a request, or rank/size are unknown.</exception>
    internal static Pmi1Client Initialize(PmiChannel channel, Func<string, string?> getVariable)
    {
        var client = new Pmi1Client(channel);
        client.Request("cmd=init pmi_version=1 pmi_subversion=1", "response_to_init");

        string? rankText = getVariable("PMI_RANK");
        string? sizeText = getVariable("PMI_SIZE");
        if (rankText is null && getVariable("PMI_ID") is { Length: > 0 } id)
        {
            // Hydra -pmi-port: the server tells the rank who it is.
            channel.WriteLine($"cmd=initack pmiid={id}");
            for (int i = 0; i < 4; i++)
            {
                var reply = PmiChannel.ParseLine(channel.ReadLine());
                if (reply.GetValueOrDefault("cmd") == "set")
                {
                    rankText = reply.GetValueOrDefault("rank", rankText!);
                    sizeText = reply.GetValueOrDefault("size", sizeText!);
                }
            }
        }
        client.Rank = ParseInt("PMI_RANK", rankText);
        client.Size = ParseInt("PMI_SIZE", sizeText);
        if (client.Size < 1 || client.Rank >= client.Size)
            throw new IOException($"PMI-1: rank {client.Rank} is not in a job of {client.Size}");

        var maxes = client.Request("cmd=get_maxes", "maxes");
        if (int.TryParse(maxes.GetValueOrDefault("vallen_max"), NumberStyles.None, CultureInfo.InvariantCulture, out int vallen) && vallen > 32)
            client.MaxValueLength = Math.Min(client.MaxValueLength, vallen - 8);
        client._kvsName = client.Request("cmd=get_my_kvsname", "my_kvsname").GetValueOrDefault("kvsname")
            ?? throw new IOException("PMI-1: get_my_kvsname returned no kvsname");
        return client;
    }

    public override void Fence() => Request("cmd=barrier_in", "barrier_out");

    public override void Abort(int exitCode, string message)
    {
        // PMI-1 values cannot hold spaces; the message is printed by the rank itself.
        Channel.WriteLine($"cmd=abort exitcode={exitCode.ToString(CultureInfo.InvariantCulture)}");
    }

    public override void Goodbye() => Request("cmd=finalize", "finalize_ack");

    private protected override void PutRaw(string key, string value) =>
        Request($"cmd=put kvsname={_kvsName} key={key} value={value}", "put_result");

    private protected override string? GetRaw(string key)
    {
        Channel.WriteLine($"cmd=get kvsname={_kvsName} key={key}");
        var reply = PmiChannel.ParseLine(Channel.ReadLine());
        return reply.GetValueOrDefault("rc", "0") == "0" ? reply.GetValueOrDefault("value") : null;
    }

    private Dictionary<string, string> Request(string line, string expected)
    {
        Channel.WriteLine(line);
        var reply = PmiChannel.ParseLine(Channel.ReadLine());
        string command = line.Split(' ')[0];
        if (reply.GetValueOrDefault("cmd") != expected)
            throw new IOException($"PMI-1: expected cmd={expected} in reply to {command}, got cmd={reply.GetValueOrDefault("cmd")}");
        if (reply.GetValueOrDefault("rc", "0") != "0")
            throw new IOException($"PMI-1: {command} failed with rc={reply["rc"]}{(reply.TryGetValue("msg", out string? msg) ? $" ({msg})" : "")}");
        return reply;
    }

    private static int ParseInt(string name, string? text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value)
            ? value
            : throw new IOException($"PMI-1: {name}='{text}' is not a number (the PMI server sets it)");
}
