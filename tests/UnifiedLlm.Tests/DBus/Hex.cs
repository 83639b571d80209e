namespace UnifiedLlm.Tests.DBus;

/// <summary>Hand-written byte vectors: hex pairs separated by whitespace or '|' (used to mark field boundaries).</summary>
internal static class Hex
{
    public static byte[] Bytes(string hex) =>
        Convert.FromHexString(string.Concat(hex.Where(c => !char.IsWhiteSpace(c) && c != '|')));

    public static string Of(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(bytes);
}
