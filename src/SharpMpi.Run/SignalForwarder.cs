using System.Runtime.InteropServices;

namespace SharpMpi.Run;

/// <summary>
/// Catches SIGHUP, SIGINT, SIGTERM, SIGUSR1 and SIGUSR2 sent to the launcher and reports them (as
/// Linux signal numbers) instead of letting them end the launcher: the job loop forwards them to the
/// ranks and, for the terminating ones, shuts the job down in order, so no rank is orphaned.
/// </summary>
internal sealed class SignalForwarder : IDisposable
{
    private readonly List<PosixSignalRegistration> _registrations = [];

    /// <param name="onSignal">Called on the runtime's signal thread with the signal number; must not block.</param>
    public SignalForwarder(Action<int> onSignal)
    {
        Register(PosixSignal.SIGHUP, Signals.Hangup, onSignal);
        Register(PosixSignal.SIGINT, Signals.Interrupt, onSignal);
        Register(PosixSignal.SIGTERM, Signals.Terminate, onSignal);
        // PosixSignal has no USR1/USR2 members; raw Linux numbers are accepted cast to the enum.
        Register((PosixSignal)Signals.User1, Signals.User1, onSignal);
        Register((PosixSignal)Signals.User2, Signals.User2, onSignal);
    }

    public void Dispose()
    {
        foreach (PosixSignalRegistration r in _registrations)
            r.Dispose();
    }

    private void Register(PosixSignal signal, int number, Action<int> onSignal) =>
        _registrations.Add(PosixSignalRegistration.Create(signal, context =>
        {
            // Cancel the default action (terminate): the job loop decides when the launcher ends.
            context.Cancel = true;
            onSignal(number);
        }));
}
