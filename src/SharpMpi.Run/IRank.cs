namespace SharpMpi.Run;

/// <summary>A rank as the job loop sees it, whether its process runs here (<see cref="RankProcess"/>) or behind an agent (<see cref="RemoteRank"/>).</summary>
internal interface IRank
{
    /// <summary>World rank.</summary>
    int Rank { get; }

    /// <summary>Completes with the exit code when the rank has exited (128+S after signal S).</summary>
    Task<int> Exited { get; }

    /// <summary>True once the rank has exited.</summary>
    bool HasExited { get; }

    /// <summary>How messages name the rank: <c>rank R (pid P)</c>, with the host when the job spans hosts.</summary>
    string Describe();

    /// <summary>Sends <paramref name="signal"/> to the rank's process group.</summary>
    void Signal(int signal);

    /// <summary>Waits until the rank's output has been forwarded, at most <paramref name="timeout"/>.</summary>
    Task DrainOutputAsync(TimeSpan timeout);
}
