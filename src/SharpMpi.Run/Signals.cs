namespace SharpMpi.Run;

/// <summary>Linux signal numbers the launcher sends or reports, and how exit codes encode them.</summary>
internal static class Signals
{
    public const int Hangup = 1;
    public const int Interrupt = 2;
    public const int Kill = 9;
    public const int User1 = 10;
    public const int User2 = 12;
    public const int Terminate = 15;

    /// <summary>The name of signal <paramref name="signal"/> (<c>SIGSEGV</c>), or <c>SIG42</c>.</summary>
    public static string Name(int signal) => signal switch
    {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => $"SIG{signal}",
    };

    /// <summary>
    /// The signal encoded in an exit code, or null. .NET reports a child killed by signal S as exit code
    /// 128+S (the shell's convention), so a program that itself exits with 129..192 reads as a signal
    /// death too; the launcher's own exit code is the same either way.
    /// </summary>
    public static int? FromExitCode(int exitCode) =>
        exitCode is > ExitCodes.SignalBase and <= ExitCodes.SignalBase + 64 ? exitCode - ExitCodes.SignalBase : null;
}
