namespace SharpMpi.Transport;

/// <summary>Reads an on/off environment variable: 1/0, true/false, yes/no or on/off, in any case.</summary>
internal static class SwitchSetting
{
    /// <summary>Parses <paramref name="text"/>, the value of <paramref name="variable"/>.</summary>
    /// <exception cref="ArgumentException">Anything else; names the variable.</exception>
    public static bool Parse(string variable, string text)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "1" or "true" or "yes" or "on":
                return true;
            case "0" or "false" or "no" or "off":
                return false;
            default:
                throw new ArgumentException($"{variable} is '{text}'; expected 1/0, true/false, yes/no or on/off.", variable);
        }
    }
}
