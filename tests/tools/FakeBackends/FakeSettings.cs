using System.Globalization;

namespace UnifiedLlm.Tools.FakeBackends;

/// <summary>The fakes' knobs, read from the environment so the real backends' argv stays untouched.</summary>
internal static class FakeSettings
{
    public static TimeSpan LoadDelay => TimeSpan.FromMilliseconds(Number("FAKE_LOAD_DELAY_MS", 0));

    public static long VllmMaxModelLen => Number("FAKE_VLLM_MAX_MODEL_LEN", 4096);

    /// <summary>
    /// Waits until the file FAKE_GO_FILE names exists (at once when it is not set): a test holds a start there for as
    /// long as it needs, instead of guessing a delay long enough on a busy machine.
    /// </summary>
    public static async Task WaitForGoAsync()
    {
        if (Environment.GetEnvironmentVariable("FAKE_GO_FILE") is not { Length: > 0 } go)
        {
            return;
        }

        while (!File.Exists(go))
        {
            await Task.Delay(20);
        }
    }

    private static long Number(string name, long fallback)
    {
        var text = Environment.GetEnvironmentVariable(name);
        return string.IsNullOrEmpty(text) ? fallback : long.Parse(text, CultureInfo.InvariantCulture);
    }
}
