namespace SharpMpi.Run;

/// <summary>
/// Exit codes of <c>sharpmpi run</c>. Where Open MPI's mpirun has a convention, we follow it so scripts
/// written for mpirun keep working.
/// </summary>
/// <remarks>
/// <list type="table">
/// <item><term>0</term><description>every rank exited 0</description></item>
/// <item><term>1</term><description>bad input (unknown option, -n 0, missing program, failed build) or a rank could not be started</description></item>
/// <item><term>N</term><description>the first rank to fail exited with N (1..255); or a rank called Abort(N) (N &amp; 0xFF)</description></item>
/// <item><term>128+S</term><description>the first rank to fail died from signal S (137 = SIGKILL, 139 = SIGSEGV)</description></item>
/// <item><term>110</term><description>--timeout expired (ETIMEDOUT, as Open MPI)</description></item>
/// <item><term>129/130/143</term><description>the launcher got SIGHUP/SIGINT/SIGTERM and ended the job</description></item>
/// </list>
/// </remarks>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int UsageError = 1;
    public const int Timeout = 110;
    public const int SignalBase = 128;
}

/// <summary>A mistake in what the user asked for: reported as one line, exit code 1, no stack trace.</summary>
internal sealed class UsageException(string message) : Exception(message);
