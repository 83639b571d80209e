using System.Globalization;

namespace UnifiedLlm.Tools.FakeBackends;

/// <summary>The fakes' knobs, read from the environment so the real backends' argv stays untouched.</summary>
internal static class FakeSettings
{
    public static TimeSpan LoadDelay => TimeSpan.FromMilliseconds(Number("FAKE_LOAD_DELAY_MS", 0));

    public static long VllmMaxModelLen => Number("FAKE_VLLM_MAX_MODEL_LEN", 4096);

    private static long Number(string name, long fallback)
    {
        var text = Environment.GetEnvironmentVariable(name);
        return string.IsNullOrEmpty(text) ? fallback : long.Parse(text, CultureInfo.InvariantCulture);
    }
}
