using System.Globalization;

namespace UnifiedLlm.Bench.ColdLoad;

/// <summary>Median, minimum and maximum of a few samples, printed as table cells in milliseconds.</summary>
internal sealed record Spread(double P50, double Min, double Max)
{
    public static Spread Of(IEnumerable<double> samples)
    {
        var sorted = samples.Order().ToArray();
        var middle = sorted.Length / 2;
        var p50 = sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
        return new Spread(p50, sorted[0], sorted[^1]);
    }

    public string Cells => string.Create(CultureInfo.InvariantCulture, $"{P50:0.0} | {Min:0.0} | {Max:0.0}");
}
