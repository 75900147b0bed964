using System.Globalization;

namespace SharpMpi.Transport;

/// <summary>Reads a byte count from an environment variable: "65536", "64K", "1M", "256KiB", "2GB".</summary>
internal static class ByteSizeSetting
{
    /// <summary>Parses <paramref name="text"/> (the value of <paramref name="variable"/>) as bytes below 2 GiB.</summary>
    /// <exception cref="ArgumentException">Not a number, a bad suffix, or 2 GiB or more; names the variable.</exception>
    public static int Parse(string variable, string text)
    {
        ReadOnlySpan<char> s = text.AsSpan().Trim();
        long multiplier = 1;
        if (s.EndsWith("iB", StringComparison.OrdinalIgnoreCase))
            s = s[..^2];
        else if (s.EndsWith("B", StringComparison.OrdinalIgnoreCase))
            s = s[..^1];
        if (!s.IsEmpty)
        {
            switch (char.ToUpperInvariant(s[^1]))
            {
                case 'K': multiplier = 1L << 10; s = s[..^1]; break;
                case 'M': multiplier = 1L << 20; s = s[..^1]; break;
                case 'G': multiplier = 1L << 30; s = s[..^1]; break;
            }
        }

        if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out long value) || value > int.MaxValue / multiplier)
        {
            throw new ArgumentException(
                $"{variable} is '{text}'; expected a number of bytes below 2 GiB, optionally with a K, M or G suffix (e.g. 65536 or 64K).",
                variable);
        }

        return (int)(value * multiplier);
    }
}
