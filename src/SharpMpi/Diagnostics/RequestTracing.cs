using SharpMpi.Engine;

namespace SharpMpi.Diagnostics;

/// <summary>Wait and Test on a request while calls are recorded: the event, and the flow end of a receive.</summary>
internal static class RequestTracing
{
    public static Status Wait(CallRecorder recorder, RequestCore core, string name)
    {
        var engine = core.Engine;
        var comm = engine.CommunicatorFor(core.Context);
        if (comm is null)
            return engine.WaitAndRelease(core);
        bool isReceive = core.Kind == RequestKind.Receive;
        var scope = CallScope.Begin(recorder, name, comm, isReceive ? core.Source : -2, isReceive ? core.Tag : -1, isReceive ? core.Length : 0);
        engine.Wait(core);
        long sequence = core.FlowSeq;
        var status = engine.WaitAndRelease(core);
        if (isReceive)
            scope.End(status, sequence);
        else
            scope.End();
        return status;
    }
}
