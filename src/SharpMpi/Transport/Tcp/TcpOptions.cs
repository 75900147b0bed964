using System.Globalization;
using SharpMpi.Engine;

namespace SharpMpi.Transport.Tcp;

/// <summary>Tunables of the TCP transport.</summary>
/// <remarks>
/// <see cref="FromEnvironment(Func{string, string?})"/> reads the <c>SHARPMPI_TCP_*</c> variables;
/// <see cref="Validate"/> rejects bad values with an <see cref="ArgumentException"/> that names the setting.
/// </remarks>
internal sealed class TcpOptions
{
    /// <summary>Environment variable for <see cref="Interface"/>.</summary>
    public const string InterfaceVariable = "SHARPMPI_TCP_INTERFACE";

    /// <summary>Environment variable for <see cref="EagerLimit"/>.</summary>
    public const string EagerLimitVariable = "SHARPMPI_TCP_EAGER_LIMIT";

    /// <summary>Environment variable for <see cref="MaxFramePayload"/>.</summary>
    public const string MaxFrameVariable = "SHARPMPI_TCP_MAX_FRAME";

    /// <summary>Environment variable for <see cref="ConnectTimeout"/> (seconds).</summary>
    public const string ConnectTimeoutVariable = "SHARPMPI_TCP_CONNECT_TIMEOUT";

    /// <summary>Default <see cref="EagerLimit"/>: 64 KiB.</summary>
    public const int DefaultEagerLimit = 64 * 1024;

    /// <summary>Default <see cref="MaxFramePayload"/>: 4 MiB.</summary>
    public const int DefaultMaxFramePayload = 4 * 1024 * 1024;

    /// <summary>Largest <see cref="MaxFramePayload"/> accepted, and the largest payload a peer may announce.</summary>
    public const int MaxFramePayloadLimit = 1 << 30;

    /// <summary>
    /// Where the listener binds: unset or empty = automatic (127.0.0.1 when the whole job runs on this host,
    /// otherwise the first IPv4 address of the first interface that is up and not loopback); an IPv4 address
    /// (<c>10.0.0.5</c>, <c>127.0.0.1</c>); a subnet (<c>10.0.0.0/24</c>: the first local address inside it);
    /// or an interface name (<c>eth1</c>: its first IPv4 address). <c>SHARPMPI_TCP_INTERFACE</c>.
    /// </summary>
    public string? Interface { get; init; }

    /// <summary>Messages up to this many bytes go eagerly. Default 64 KiB; <c>SHARPMPI_TCP_EAGER_LIMIT</c> (bytes, or 64K, 1M).</summary>
    public int EagerLimit { get; init; } = DefaultEagerLimit;

    /// <summary>
    /// Largest payload of one frame, i.e. the size of the Data frames a rendezvous message is streamed in.
    /// Default 4 MiB; <c>SHARPMPI_TCP_MAX_FRAME</c>.
    /// </summary>
    public int MaxFramePayload { get; init; } = DefaultMaxFramePayload;

    /// <summary>
    /// Initial bytes of each peer's send buffer (frames the kernel did not take yet). A frame that does not fit
    /// is refused while older bytes wait; when nothing waits the buffer grows to hold the unsent rest of one
    /// frame (at most <see cref="MaxFramePayload"/> plus a header). Default 256 KiB.
    /// </summary>
    public int SendBufferSize { get; init; } = 256 * 1024;

    /// <summary>
    /// Bytes of each peer's receive buffer. Streamed Data frames are delivered in pieces as they arrive, so
    /// only other frames larger than this (an eager limit above it) make it grow. Default 256 KiB.
    /// </summary>
    public int ReceiveBufferSize { get; init; } = 256 * 1024;

    /// <summary>A connection must complete the handshake within this time or it is closed. Default 5 s.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long start-up waits for every peer to be connected. Default 60 s; <c>SHARPMPI_TCP_CONNECT_TIMEOUT</c> (seconds).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>At dispose, how long to keep flushing the goodbye frame and waiting for the peers to close. Default 2 s.</summary>
    public TimeSpan LingerTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Up to this many peers, every poll tries a non-blocking receive on every socket (lowest latency);
    /// above it, polls read only the sockets the background poller found readable. Default 8.
    /// </summary>
    public int DirectPollPeers { get; init; } = 8;

    /// <summary>Where rejected connections are reported (one line each); standard error when null.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>The defaults overridden by the <c>SHARPMPI_TCP_*</c> environment variables that are set.</summary>
    /// <param name="getVariable">Reads one variable; <see cref="Environment.GetEnvironmentVariable(string)"/> when null.</param>
    /// <exception cref="ArgumentException">A variable is set to a value that cannot be used; the message names it.</exception>
    public static TcpOptions FromEnvironment(Func<string, string?>? getVariable = null)
    {
        getVariable ??= Environment.GetEnvironmentVariable;
        int eager = DefaultEagerLimit;
        int maxFrame = DefaultMaxFramePayload;
        var connectTimeout = TimeSpan.FromSeconds(60);

        string? text = getVariable(EagerLimitVariable);
        if (!string.IsNullOrWhiteSpace(text))
            eager = ParseSize(EagerLimitVariable, text);
        text = getVariable(MaxFrameVariable);
        if (!string.IsNullOrWhiteSpace(text))
            maxFrame = ParseSize(MaxFrameVariable, text);
        text = getVariable(ConnectTimeoutVariable);
        if (!string.IsNullOrWhiteSpace(text))
        {
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) || seconds <= 0 || seconds > 86_400)
                throw new ArgumentException($"{ConnectTimeoutVariable} is '{text}'; expected a number of seconds between 0 and 86400.", ConnectTimeoutVariable);
            connectTimeout = TimeSpan.FromSeconds(seconds);
        }

        string? iface = getVariable(InterfaceVariable);
        var options = new TcpOptions
        {
            Interface = string.IsNullOrWhiteSpace(iface) ? null : iface.Trim(),
            EagerLimit = eager,
            MaxFramePayload = maxFrame,
            ConnectTimeout = connectTimeout,
        };
        options.Validate();
        return options;
    }

    /// <summary>Throws when a value cannot be used.</summary>
    /// <exception cref="ArgumentException">The message names the property and, where there is one, its environment variable.</exception>
    public void Validate()
    {
        if (MaxFramePayload < 4096 || MaxFramePayload > MaxFramePayloadLimit)
            throw new ArgumentException($"MaxFramePayload ({MaxFrameVariable}) is {MaxFramePayload}; it must be between 4096 and {MaxFramePayloadLimit} bytes.", nameof(MaxFramePayload));
        if (EagerLimit < 0 || EagerLimit > MaxFramePayload)
            throw new ArgumentException($"EagerLimit ({EagerLimitVariable}) is {EagerLimit}; it must be between 0 and MaxFramePayload ({MaxFramePayload}) bytes.", nameof(EagerLimit));
        if (SendBufferSize < 4096)
            throw new ArgumentException($"SendBufferSize is {SendBufferSize}; it must be at least 4096 bytes.", nameof(SendBufferSize));
        if (ReceiveBufferSize < 4096)
            throw new ArgumentException($"ReceiveBufferSize is {ReceiveBufferSize}; it must be at least 4096 bytes.", nameof(ReceiveBufferSize));
        if (HandshakeTimeout <= TimeSpan.Zero || ConnectTimeout <= TimeSpan.Zero || LingerTimeout < TimeSpan.Zero)
            throw new ArgumentException("HandshakeTimeout and ConnectTimeout must be positive, LingerTimeout not negative.");
        if (DirectPollPeers < 0)
            throw new ArgumentException($"DirectPollPeers is {DirectPollPeers}; it must not be negative.", nameof(DirectPollPeers));
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"interface={Interface ?? "auto"} eager={EagerLimit} maxFrame={MaxFramePayload} sendBuffer={SendBufferSize} receiveBuffer={ReceiveBufferSize}";

    private static int ParseSize(string variable, string text) => ByteSizeSetting.Parse(variable, text);

    /// <summary>Bytes a frame of <paramref name="payload"/> bytes occupies on the wire.</summary>
    internal static int WireSize(int payload) => FrameHeader.Size + payload;
}
