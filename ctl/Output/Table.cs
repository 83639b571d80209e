using System.Text;
using UnifiedLlm.Printing;

namespace UnifiedLlm.Ctl.Output;

/// <summary>
/// A plain text table sized to the terminal: columns are as wide as their widest cell, and when the whole table is too
/// wide the widest columns are shortened with an ellipsis. Width comes from $COLUMNS or the console, else 120.
/// </summary>
internal sealed class Table(params string[] headers)
{
    private readonly List<string[]> rows = [];

    /// <summary>Adds a row; every cell is escaped for the terminal (<see cref="TerminalText"/>), a newline in a cell included.</summary>
    public Table Add(params object?[] cells)
    {
        rows.Add([.. cells.Select(c => TerminalText.Escape(c?.ToString() ?? ""))]);
        return this;
    }

    public int Count => rows.Count;

    public string Render(int? width = null)
    {
        var max = width ?? TerminalWidth();
        var widths = headers.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        const int Gap = 2;
        while (widths.Sum() + (Gap * (widths.Length - 1)) > max)
        {
            var widest = Array.IndexOf(widths, widths.Max());
            if (widths[widest] <= Math.Max(6, headers[widest].Length))
            {
                break;
            }

            widths[widest]--;
        }

        var text = new StringBuilder();
        AppendRow(text, headers, widths, Gap);
        foreach (var row in rows)
        {
            AppendRow(text, row, widths, Gap);
        }

        return text.ToString();
    }

    public static int TerminalWidth()
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), out var columns) && columns > 20)
        {
            return columns;
        }

        try
        {
            return Console.IsOutputRedirected || Console.WindowWidth <= 20 ? 120 : Console.WindowWidth;
        }
        catch (IOException)
        {
            return 120;
        }
    }

    private static void AppendRow(StringBuilder text, string[] cells, int[] widths, int gap)
    {
        var line = new StringBuilder();
        for (var i = 0; i < cells.Length; i++)
        {
            var cell = cells[i].Length > widths[i] ? cells[i][..(widths[i] - 1)] + "…" : cells[i];
            line.Append(i == cells.Length - 1 ? cell : cell.PadRight(widths[i] + gap));
        }

        text.Append(line.ToString().TrimEnd()).Append('\n');
    }
}
