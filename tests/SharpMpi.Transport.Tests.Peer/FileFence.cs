namespace SharpMpi.Transport.Tests.Peer;

/// <summary>
/// A barrier across processes through marker files in a directory: fence number k of rank r creates
/// <c>fence.k.r</c> and waits until every rank's marker of that fence exists. Test-only stand-in for the
/// launcher's key-value store fence.
/// </summary>
internal sealed class FileFence(string directory, int rank, int[] ranks, TimeSpan timeout)
{
    private int _generation;

    public void Wait()
    {
        int generation = _generation++;
        File.WriteAllBytes(Path.Combine(directory, $"fence.{generation}.{rank}"), []);
        var deadline = DateTime.UtcNow + timeout;
        foreach (int other in ranks)
        {
            string marker = Path.Combine(directory, $"fence.{generation}.{other}");
            while (!File.Exists(marker))
            {
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException($"fence {generation}: rank {other} did not arrive within {timeout}");
                Thread.Sleep(1);
            }
        }
    }
}
