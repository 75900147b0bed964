using System.Net;

namespace SharpMpi.Run;

/// <summary>A validated <c>sharpmpi run</c> command line.</summary>
/// <param name="Placement">Where each rank runs (-n with --host/--hostfile, --map-by, -N); all local without a host list.</param>
/// <param name="Environment">Variables set for every rank (-x, -genv), in command-line order.</param>
/// <param name="TagOutput">Prefix each output line with <c>[rank] </c>.</param>
/// <param name="Timeout">Wall-clock limit for the whole job, or null.</param>
/// <param name="OutputDirectory">Also write each rank's output to DIR/rank.N/stdout|stderr, or null.</param>
/// <param name="BindToCore">--bind-to core was asked for (not yet implemented: ranks are not pinned).</param>
/// <param name="Verbose">Print what the launcher does, and rejected KVS connections.</param>
/// <param name="Program">The program as given: project folder, .csproj, .dll, or executable.</param>
/// <param name="Arguments">Everything after the program, passed through unchanged.</param>
/// <param name="DisplayMap">Print the rank → host placement before starting (--display-map).</param>
/// <param name="LaunchAgent">Command template that starts the agent on a remote host (<c>{host}</c> is replaced), or null for the default.</param>
/// <param name="KvsAddress">Address the key-value store binds and advertises to remote hosts, or null to pick one.</param>
internal sealed record RunOptions(
    Placement Placement,
    IReadOnlyList<KeyValuePair<string, string>> Environment,
    bool TagOutput,
    TimeSpan? Timeout,
    string? OutputDirectory,
    bool BindToCore,
    bool Verbose,
    string Program,
    IReadOnlyList<string> Arguments,
    bool DisplayMap = false,
    string? LaunchAgent = null,
    IPAddress? KvsAddress = null)
{
    /// <summary>Number of ranks (-n, or one per slot).</summary>
    public int Ranks => Placement.Size;

    /// <summary>Tracing, profiling and deadlock detection (--trace, --profile, --deadlock-timeout).</summary>
    public Diagnostics.JobDiagnosticsOptions Diagnostics { get; init; } = Run.Diagnostics.JobDiagnosticsOptions.Default;
}
