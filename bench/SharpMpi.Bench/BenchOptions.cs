using System.Globalization;

namespace SharpMpi.Bench;

/// <summary>OSU-style options: <c>-m min:max</c>, <c>-i iterations</c>, <c>-x warmup</c>, <c>-W window</c>.</summary>
internal sealed record BenchOptions(string Verb, long MinSize, long MaxSize, int Iterations, int Warmup, int Window)
{
    public static BenchOptions Parse(string[] args)
    {
        if (args.Length == 0)
            throw new ArgumentException("usage: SharpMpi.Bench latency|bw|bibw [-m min:max] [-i iterations] [-x warmup] [-W window]");
        string verb = args[0];
        long min = 0, max = 4 << 20;
        int iterations = 0, warmup = -1, window = 64;
        for (int i = 1; i < args.Length; i++)
        {
            string value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"option {args[i]} needs a value");
            switch (args[i])
            {
                case "-m":
                    var parts = value.Split(':');
                    if (parts.Length == 2)
                    {
                        min = ParseSize(parts[0]);
                        max = ParseSize(parts[1]);
                    }
                    else
                    {
                        max = ParseSize(parts[0]);
                    }
                    break;
                case "-i":
                    iterations = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "-x":
                    warmup = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "-W":
                    window = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                default:
                    throw new ArgumentException($"unknown option '{args[i]}'");
            }
            i++;
        }
        if (min < 0 || max < min)
            throw new ArgumentException($"bad size range {min}:{max}");
        return new BenchOptions(verb, min, max, iterations, warmup, window);
    }

    public static long ParseSize(string text)
    {
        text = text.Trim();
        long factor = 1;
        if (text.EndsWith('K') || text.EndsWith('k'))
            factor = 1024;
        else if (text.EndsWith('M') || text.EndsWith('m'))
            factor = 1 << 20;
        else if (text.EndsWith('G') || text.EndsWith('g'))
            factor = 1 << 30;
        if (factor != 1)
            text = text[..^1];
        return long.Parse(text, CultureInfo.InvariantCulture) * factor;
    }

    /// <summary>Sizes 0 (if in range), then powers of two from max(1, min) to max, as OSU does.</summary>
    public IEnumerable<long> Sizes()
    {
        if (MinSize == 0)
            yield return 0;
        for (long s = Math.Max(1, MinSize); s <= MaxSize; s *= 2)
            yield return s;
    }

    /// <summary>OSU's defaults: 10000/1000 iterations below/above 8 KiB (latency), fewer for bandwidth.</summary>
    public (int Iterations, int Warmup) IterationsFor(long size, bool bandwidth)
    {
        int iters = Iterations > 0 ? Iterations : bandwidth ? (size > 8192 ? 20 : 100) : (size > 8192 ? 1000 : 10000);
        int warm = Warmup >= 0 ? Warmup : bandwidth ? (size > 8192 ? 2 : 10) : (size > 8192 ? 100 : 1000);
        return (iters, warm);
    }
}
