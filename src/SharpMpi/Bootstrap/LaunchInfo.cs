using System.Globalization;

namespace SharpMpi.Bootstrap;

/// <summary>What <c>sharpmpi run</c> tells a rank through its environment.</summary>
/// <param name="Rank">World rank, <c>SHARPMPI_RANK</c>.</param>
/// <param name="Size">World size, <c>SHARPMPI_SIZE</c>.</param>
/// <param name="LocalRank">Rank among the ranks on this node, <c>SHARPMPI_LOCAL_RANK</c>.</param>
/// <param name="LocalSize">Ranks on this node, <c>SHARPMPI_LOCAL_SIZE</c>.</param>
/// <param name="Node">Index of this rank's node, <c>SHARPMPI_NODE</c>: ranks with equal values share a host (and /dev/shm).</param>
/// <param name="KvsEndpoint">The launcher's key-value store, <c>host:port</c>, <c>SHARPMPI_KVS</c>.</param>
/// <param name="JobId">Short unique job id, safe in file names, <c>SHARPMPI_JOBID</c>.</param>
/// <param name="SecretHex">Per-job secret for the KVS and the TCP handshake, hex, <c>SHARPMPI_SECRET</c>.</param>
internal sealed record LaunchInfo(
    int Rank,
    int Size,
    int LocalRank,
    int LocalSize,
    int Node,
    string KvsEndpoint,
    string JobId,
    string SecretHex)
{
    public const string RankVariable = "SHARPMPI_RANK";
    public const string SizeVariable = "SHARPMPI_SIZE";
    public const string LocalRankVariable = "SHARPMPI_LOCAL_RANK";
    public const string LocalSizeVariable = "SHARPMPI_LOCAL_SIZE";
    public const string NodeVariable = "SHARPMPI_NODE";
    public const string KvsVariable = "SHARPMPI_KVS";
    public const string JobIdVariable = "SHARPMPI_JOBID";
    public const string SecretVariable = "SHARPMPI_SECRET";

    /// <summary>Reads the launcher's variables; null when <c>SHARPMPI_RANK</c> is unset (not started by sharpmpi).</summary>
    /// <exception cref="InvalidOperationException">Some variables are missing or malformed.</exception>
    public static LaunchInfo? FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    /// <inheritdoc cref="FromEnvironment()"/>
    internal static LaunchInfo? FromEnvironment(Func<string, string?> getVariable)
    {
        if (getVariable(RankVariable) is null)
            return null;

        int rank = ReadInt(getVariable, RankVariable);
        int size = ReadInt(getVariable, SizeVariable);
        int localRank = ReadInt(getVariable, LocalRankVariable);
        int localSize = ReadInt(getVariable, LocalSizeVariable);
        int node = ReadInt(getVariable, NodeVariable);
        string kvs = ReadString(getVariable, KvsVariable);
        string jobId = ReadString(getVariable, JobIdVariable);
        string secret = ReadString(getVariable, SecretVariable);

        if (size < 1)
            throw Malformed(SizeVariable, size, "must be at least 1");
        if (rank >= size)
            throw Malformed(RankVariable, rank, $"must be below {SizeVariable}={size}");
        if (localSize < 1 || localSize > size)
            throw Malformed(LocalSizeVariable, localSize, $"must be 1..{size}");
        if (localRank >= localSize)
            throw Malformed(LocalRankVariable, localRank, $"must be below {LocalSizeVariable}={localSize}");
        if (!KvsProtocol.TryParseEndpoint(kvs, out _, out _))
            throw Malformed(KvsVariable, kvs, "must be host:port");
        foreach (char c in jobId)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_'))
                throw Malformed(JobIdVariable, jobId, "may hold only letters, digits, '-' and '_'");
        }
        if (secret.Length < 2 * 16 || secret.Length % 2 != 0 || !secret.All(char.IsAsciiHexDigit))
            throw Malformed(SecretVariable, "(hidden)", "must be at least 16 bytes of hex");

        return new LaunchInfo(rank, size, localRank, localSize, node, kvs, jobId, secret);
    }

    /// <summary>Keeps the secret out of logs and exception messages.</summary>
    public override string ToString() =>
        $"LaunchInfo {{ Rank = {Rank}, Size = {Size}, LocalRank = {LocalRank}, LocalSize = {LocalSize}, Node = {Node}, KvsEndpoint = {KvsEndpoint}, JobId = {JobId} }}";

    private static string ReadString(Func<string, string?> getVariable, string name)
    {
        string? value = getVariable(name);
        return string.IsNullOrWhiteSpace(value)
            ? throw new InvalidOperationException($"{RankVariable} is set but {name} is missing: the SharpMPI launcher sets them together")
            : value.Trim();
    }

    private static int ReadInt(Func<string, string?> getVariable, string name)
    {
        string text = ReadString(getVariable, name);
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value)
            ? value
            : throw Malformed(name, text, "must be a non-negative integer");
    }

    private static InvalidOperationException Malformed(string name, object value, string rule) =>
        new($"launcher variable {name}={value} is invalid: it {rule}");
}
