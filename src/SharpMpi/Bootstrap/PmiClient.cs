using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace SharpMpi.Bootstrap;

/// <summary>
/// A connection to a PMI server (Slurm's <c>srun --mpi=pmi2</c>, MPICH Hydra): the channel from
/// <c>PMI_FD</c> (an inherited socket) or <c>PMI_PORT</c> (<c>host:port</c>), and what PMI-1 and PMI-2
/// share: rank and size, put/get/fence with values made safe for PMI, abort and finalize.
/// Wire formats: Pmi1Client.cs and Pmi2Client.cs (and reference/ecosystem-notes.md §1.3).
/// </summary>
/// <remarks>
/// PMI values may not hold spaces, newlines or <c>;</c> and are limited to about 1 KiB, keys to 64
/// bytes. Values made only of <c>[A-Za-z0-9._:/,@+-]</c> go as they are; anything else is sent as
/// <c>~</c> + base64url; values longer than a PMI value are split over <c>key#1..key#N</c> with
/// <c>*N</c> under the key itself. Long or unusual keys are replaced by a hash.
/// </remarks>
internal abstract class PmiClient : IKeyValueStore, IDisposable
{
    private const int MaxKeyLength = 60;

    private protected PmiClient(PmiChannel channel) => Channel = channel;

    /// <summary>World rank.</summary>
    public int Rank { get; private protected set; }

    /// <summary>World size.</summary>
    public int Size { get; private protected set; }

    /// <summary>"PMI-1" or "PMI-2", for messages.</summary>
    public abstract string Version { get; }

    private protected PmiChannel Channel { get; }

    /// <summary>Longest value one PMI put carries.</summary>
    private protected int MaxValueLength { get; set; } = 1000;

    /// <summary>
    /// Connects to the PMI server named by <c>PMI_FD</c> or <c>PMI_PORT</c> and initializes: PMI-2 first,
    /// PMI-1 when the server declines it (<c>SHARPMPI_PMI=1</c> or <c>2</c> forces one). Null when neither variable is set.
    /// </summary>
    /// <exception cref="IOException">The server cannot be reached or refused to initialize.</exception>
    public static PmiClient? Connect(Func<string, string?> getVariable)
    {
        PmiChannel? channel = PmiChannel.Open(getVariable);
        if (channel is null)
            return null;
        try
        {
            string? forced = getVariable("SHARPMPI_PMI");
            if (forced != "1")
            {
                channel.WriteLine("cmd=init pmi_version=2 pmi_subversion=0");
                var reply = PmiChannel.ParseLine(channel.ReadLine());
                if (reply.GetValueOrDefault("rc", "0") == "0" && reply.GetValueOrDefault("pmi_version") == "2")
                    return Pmi2Client.Initialize(channel, getVariable);
                if (forced == "2")
                    throw new IOException($"the PMI server declined PMI-2 (SHARPMPI_PMI=2): {string.Join(' ', reply.Select(kv => $"{kv.Key}={kv.Value}"))}");
            }
            return Pmi1Client.Initialize(channel, getVariable);
        }
        catch
        {
            channel.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public void Put(string key, string value)
    {
        string pmiKey = PmiKey(key);
        string encoded = Encode(value);
        if (encoded.Length <= MaxValueLength)
        {
            PutRaw(pmiKey, encoded);
            return;
        }
        int chunks = (encoded.Length + MaxValueLength - 1) / MaxValueLength;
        for (int i = 0; i < chunks; i++)
            PutRaw($"{pmiKey}#{i + 1}", encoded.Substring(i * MaxValueLength, Math.Min(MaxValueLength, encoded.Length - (i * MaxValueLength))));
        PutRaw(pmiKey, "*" + chunks.ToString(CultureInfo.InvariantCulture));
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidOperationException">No rank put <paramref name="key"/> before the last fence.</exception>
    public string Get(string key)
    {
        string pmiKey = PmiKey(key);
        string raw = GetRaw(pmiKey) ?? throw NotFound(key);
        if (raw.StartsWith('*') && int.TryParse(raw.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out int chunks))
        {
            var whole = new StringBuilder();
            for (int i = 1; i <= chunks; i++)
                whole.Append(GetRaw($"{pmiKey}#{i}") ?? throw NotFound(key));
            raw = whole.ToString();
        }
        return Decode(raw);
    }

    /// <inheritdoc/>
    public abstract void Fence();

    /// <summary>Asks the server to end the whole job with <paramref name="exitCode"/>.</summary>
    public abstract void Abort(int exitCode, string message);

    /// <summary>PMI finalize: this rank leaves cleanly.</summary>
    public abstract void Goodbye();

    /// <summary>Closes the channel.</summary>
    public void Dispose() => Channel.Dispose();

    private protected abstract void PutRaw(string key, string value);

    private protected abstract string? GetRaw(string key);

    private InvalidOperationException NotFound(string key) =>
        new($"{Version}: no rank put '{key}' before the last fence (PMI values become visible only after a fence)");

    internal static string Encode(string value) =>
        value.Length > 0 && value.All(IsPlain) ? value : "~" + Base64Url(Encoding.UTF8.GetBytes(value));

    internal static string Decode(string raw) =>
        raw.StartsWith('~') ? Encoding.UTF8.GetString(FromBase64Url(raw[1..])) : raw;

    internal static string PmiKey(string key) =>
        key.Length <= MaxKeyLength && key.Length > 0 && key.All(IsPlain)
            ? key
            : "h" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..40];

    private static bool IsPlain(char c) => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '/' or ',' or '@' or '+' or '-';

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string text)
    {
        string s = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s + new string('=', (4 - (s.Length % 4)) % 4));
    }
}

/// <summary>The byte channel to a PMI server: text lines (PMI-1, and PMI-2's first message) and exact reads (PMI-2).</summary>
internal sealed class PmiChannel : IDisposable
{
    private readonly Stream _stream;

    private PmiChannel(Stream stream, string description)
    {
        _stream = stream;
        Description = description;
    }

    /// <summary>PMI_FD=N or PMI_PORT=host:port, for messages.</summary>
    public string Description { get; }

    /// <summary>Opens <c>PMI_FD</c> or connects to <c>PMI_PORT</c>; null when neither is set.</summary>
    /// <exception cref="IOException">The variable is malformed or the server cannot be reached.</exception>
    public static PmiChannel? Open(Func<string, string?> getVariable)
    {
        if (getVariable("PMI_FD") is { Length: > 0 } fdText)
        {
            if (!int.TryParse(fdText, NumberStyles.None, CultureInfo.InvariantCulture, out int fd))
                throw new IOException($"PMI_FD='{fdText}' is not a file descriptor");
            try
            {
                // The descriptor may come non-blocking; this channel does blocking reads and writes.
                var socket = new Socket(new SafeSocketHandle((nint)fd, ownsHandle: true)) { Blocking = true };
                return new PmiChannel(new NetworkStream(socket, ownsSocket: true), $"PMI_FD={fd}");
            }
            catch (SocketException e)
            {
                throw new IOException($"PMI_FD={fd} is not a usable socket: {e.Message}", e);
            }
        }
        if (getVariable("PMI_PORT") is { Length: > 0 } port)
        {
            if (!KvsProtocol.TryParseEndpoint(port, out string host, out int number))
                throw new IOException($"PMI_PORT='{port}' is not host:port");
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                if (IPAddress.TryParse(host, out IPAddress? address))
                    socket.Connect(address, number);
                else
                    socket.Connect(host, number);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                throw new IOException($"cannot reach the PMI server at PMI_PORT={port}: {e.Message}", e);
            }
            return new PmiChannel(new NetworkStream(socket, ownsSocket: true), $"PMI_PORT={port}");
        }
        return null;
    }

    /// <summary>A channel over any stream (tests).</summary>
    internal static PmiChannel Over(Stream stream) => new(stream, "test stream");

    public void WriteLine(string line) => Write(Encoding.ASCII.GetBytes(line + "\n"));

    public void Write(ReadOnlySpan<byte> bytes)
    {
        _stream.Write(bytes);
        _stream.Flush();
    }

    /// <summary>One line without its newline.</summary>
    /// <exception cref="IOException">The server closed the connection.</exception>
    public string ReadLine()
    {
        var line = new List<byte>(64);
        Span<byte> one = stackalloc byte[1];
        while (true)
        {
            if (_stream.Read(one) == 0)
                throw new IOException($"the PMI server ({Description}) closed the connection");
            if (one[0] == (byte)'\n')
                return Encoding.ASCII.GetString([.. line]);
            line.Add(one[0]);
        }
    }

    /// <summary>Exactly <paramref name="count"/> bytes.</summary>
    public byte[] ReadExactly(int count)
    {
        byte[] bytes = new byte[count];
        try
        {
            _stream.ReadExactly(bytes);
        }
        catch (EndOfStreamException e)
        {
            throw new IOException($"the PMI server ({Description}) closed the connection", e);
        }
        return bytes;
    }

    /// <summary>PMI-1 reply: space-separated <c>key=value</c>, in any order.</summary>
    public static Dictionary<string, string> ParseLine(string line)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string token in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = token.IndexOf('=');
            if (eq > 0)
                fields[token[..eq]] = token[(eq + 1)..];
        }
        return fields;
    }

    public void Dispose() => _stream.Dispose();
}
