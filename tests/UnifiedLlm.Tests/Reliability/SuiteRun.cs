using System.Globalization;

namespace UnifiedLlm.Tests.Reliability;

/// <summary>
/// How big the reliability suite's runs are and where their figures go. Under CI each test runs its small share;
/// bench/reliability.sh sets <c>ULLM_RELIABILITY_SCALE</c> to multiply the counts and <c>ULLM_RELIABILITY_FIGURES</c>
/// to a file that collects what each test measured, one <c>name&lt;TAB&gt;value</c> line each, for bench/RESULTS.md.
/// </summary>
internal static class SuiteRun
{
    private static readonly Lock FiguresLock = new();

    public static int Scale { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("ULLM_RELIABILITY_SCALE"), NumberStyles.None, CultureInfo.InvariantCulture, out var scale) && scale > 0 ? scale : 1;

    /// <summary>
    /// Whether bench/reliability.sh runs the suite (its classes alone, the load recorded): measurements of real waiting
    /// time are judged there, not beside the whole test suite, whose other tests change hold times while they are timed.
    /// </summary>
    public static bool Measuring => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("ULLM_RELIABILITY_FIGURES"));

    /// <summary>CI's count times the scale.</summary>
    public static int Count(int ci) => checked(ci * Scale);

    public static void Record(string name, FormattableString value)
    {
        var file = Environment.GetEnvironmentVariable("ULLM_RELIABILITY_FIGURES");
        if (string.IsNullOrEmpty(file))
        {
            return;
        }

        lock (FiguresLock)
        {
            File.AppendAllText(file, $"{name}\t{value.ToString(CultureInfo.InvariantCulture)}\n");
        }
    }
}
