using System.Globalization;
using System.Text;
using SharpMpi.Run.Diagnostics;

namespace SharpMpi.Run.Tests;

/// <summary>The merger's JSON number formatting, against the framework's.</summary>
public sealed class JsonOutputTests
{
    private static string Written(Action<JsonOutput> write)
    {
        var w = new JsonOutput(null, 4);
        write(w);
        return Encoding.UTF8.GetString(w.Written);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(7L)]
    [InlineData(10L)]
    [InlineData(99L)]
    [InlineData(100L)]
    [InlineData(1023L)]
    [InlineData(-1L)]
    [InlineData(-12345L)]
    [InlineData(9_999_999_999L)]
    [InlineData(10_000_000_000L)]
    [InlineData(long.MaxValue)]
    [InlineData(long.MinValue)]
    public void Number_IsTheInvariantText(long value) =>
        Assert.Equal(value.ToString(CultureInfo.InvariantCulture), Written(w => w.Number(value)));

    [Theory]
    [InlineData(0L, "0.000")]
    [InlineData(999L, "0.999")]
    [InlineData(1000L, "1.000")]
    [InlineData(1_234_567L, "1234.567")]
    [InlineData(-1_500L, "-1.500")]
    [InlineData(-20L, "-0.020")]
    public void Microseconds_HasThreeDecimals(long nanoseconds, string expected) =>
        Assert.Equal(expected, Written(w => w.Microseconds(nanoseconds)));

    [Fact]
    public void Numbers_ManyInARow_AreSeparatedAsWritten()
    {
        var expected = new StringBuilder();
        string text = Written(w =>
        {
            // Every digit count, both signs.
            for (long v = 1; v < long.MaxValue / 4; v = v * 3 + 7)
            {
                foreach (long value in (ReadOnlySpan<long>)[v, -v])
                {
                    w.Number(value);
                    w.Raw(","u8);
                    expected.Append(value.ToString(CultureInfo.InvariantCulture)).Append(',');
                }
            }
        });
        Assert.Equal(expected.ToString(), text);
    }
}
