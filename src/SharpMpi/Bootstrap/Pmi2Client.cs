using System.Globalization;
using System.Text;

namespace SharpMpi.Bootstrap;

/// <summary>
/// PMI-2 client (Slurm's <c>srun --mpi=pmi2</c>, Hydra): after the PMI-1 style
/// <c>cmd=init pmi_version=2</c> line, every message is a 6-character space-padded decimal length and a
/// body of <c>key=value;</c> pairs: <c>fullinit</c>, <c>kvs-put</c>, <c>kvs-fence</c>, <c>kvs-get</c>,
/// <c>abort</c>, <c>finalize</c>.
/// </summary>
internal sealed class Pmi2Client : PmiClient
{
    private Pmi2Client(PmiChannel channel)
        : base(channel)
    {
    }

    public override string Version => "PMI-2";

    /// <summary>Sends <c>fullinit</c> on a channel whose PMI-2 init was accepted; rank and size come from the reply.</summary>
    /// <exception cref="IOException">The server refused.</exception>
    internal static Pmi2Client Initialize(PmiChannel channel, Func<string, string?> getVariable)
    {
        var client = new Pmi2Client(channel);
        string who = getVariable("PMI_RANK") is { Length: > 0 } rank
            ? $"pmirank={rank};"
            : getVariable("PMI_ID") is { Length: > 0 } id ? $"pmiid={id};" : "";
        var reply = client.Request($"cmd=fullinit;pmijobid={getVariable("PMI_JOBID")};{who}threaded=FALSE;", "fullinit-response");
        client.Rank = ParseInt(reply, "rank");
        client.Size = ParseInt(reply, "size");
        if (client.Size < 1 || client.Rank >= client.Size)
            throw new IOException($"PMI-2: rank {client.Rank} is not in a job of {client.Size}");
        return client;
    }

    public override void Fence() => Request("cmd=kvs-fence;", "kvs-fence-response");

    public override void Abort(int exitCode, string message) =>
        Send($"cmd=abort;isworldabort=TRUE;msg={message.Replace(";", ";;", StringComparison.Ordinal)};");

    public override void Goodbye() => Request("cmd=finalize;", "finalize-response");

    private protected override void PutRaw(string key, string value) =>
        Request($"cmd=kvs-put;key={key};value={value};", "kvs-put-response");

    private protected override string? GetRaw(string key)
    {
        var reply = Request($"cmd=kvs-get;jobid=;srcid=-1;key={key};", "kvs-get-response", allowFailure: true);
        return reply.GetValueOrDefault("rc", "0") == "0" && reply.GetValueOrDefault("found", "TRUE") == "TRUE"
            ? reply.GetValueOrDefault("value")
            : null;
    }

    private void Send(string body)
    {
        byte[] bytes = Encoding.ASCII.GetBytes(body);
        Channel.Write(Encoding.ASCII.GetBytes(bytes.Length.ToString(CultureInfo.InvariantCulture).PadRight(6)));
        Channel.Write(bytes);
    }

    private Dictionary<string, string> Request(string body, string expected, bool allowFailure = false)
    {
        Send(body);
        string header = Encoding.ASCII.GetString(Channel.ReadExactly(6));
        if (!int.TryParse(header.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int length) || length > 1 << 20)
            throw new IOException($"PMI-2: malformed length header '{header}'");
        var reply = Parse(Encoding.ASCII.GetString(Channel.ReadExactly(length)));
        string command = body[..body.IndexOf(';')];
        if (reply.GetValueOrDefault("cmd") != expected)
            throw new IOException($"PMI-2: expected cmd={expected} in reply to {command}, got cmd={reply.GetValueOrDefault("cmd")}");
        if (!allowFailure && reply.GetValueOrDefault("rc", "0") != "0")
            throw new IOException($"PMI-2: {command} failed with rc={reply["rc"]}{(reply.TryGetValue("errmsg", out string? msg) ? $" ({msg})" : "")}");
        return reply;
    }

    /// <summary><c>key=value;</c> pairs; <c>;;</c> inside a value is a literal <c>;</c>.</summary>
    internal static Dictionary<string, string> Parse(string body)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        var token = new StringBuilder();
        for (int i = 0; i <= body.Length; i++)
        {
            if (i < body.Length && body[i] == ';' && i + 1 < body.Length && body[i + 1] == ';')
            {
                token.Append(';');
                i++;
                continue;
            }
            if (i == body.Length || body[i] == ';')
            {
                string t = token.ToString();
                int eq = t.IndexOf('=');
                if (eq > 0)
                    fields[t[..eq]] = t[(eq + 1)..];
                token.Clear();
                continue;
            }
            token.Append(body[i]);
        }
        return fields;
    }

    private static int ParseInt(Dictionary<string, string> reply, string key) =>
        int.TryParse(reply.GetValueOrDefault(key), NumberStyles.None, CultureInfo.InvariantCulture, out int value)
            ? value
            : throw new IOException($"PMI-2: fullinit-response has no valid {key}");
}
