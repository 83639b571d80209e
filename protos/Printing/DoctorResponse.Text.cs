using System.Text;
using UnifiedLlm.Printing;

namespace UnifiedLlm.Admin.V1;

/// <summary>
/// How a doctor report reads and exits, the same whether ullmctl got it from a running ullmd (the Doctor RPC) or from
/// <c>ullmd --doctor</c> run without one.
/// </summary>
public sealed partial class DoctorResponse
{
    /// <summary>The exit code when a finding is a warning and none is an error.</summary>
    public const int WarningsExitCode = 7;

    /// <summary>The exit code when a finding is an error.</summary>
    public const int ErrorsExitCode = 1;

    /// <summary>The severities from least to most severe, as findings name them.</summary>
    public static IReadOnlyList<string> Severities { get; } = ["ok", "info", "warning", "error"];

    public string WorstSeverity => Findings.Select(f => f.Severity).MaxBy(Rank) ?? "ok";

    /// <summary>0 when nothing is worse than info, <see cref="WarningsExitCode"/> for warnings, <see cref="ErrorsExitCode"/> for an error.</summary>
    public int ExitCode => WorstSeverity switch
    {
        "error" => ErrorsExitCode,
        "warning" => WarningsExitCode,
        _ => 0,
    };

    /// <summary>The findings worst first, each with its fix, then the counts; every field from outside escaped for a terminal.</summary>
    public string Render()
    {
        var text = new StringBuilder();
        if (ConfigPath.Length > 0)
        {
            text.Append($"config {TerminalText.Escape(ConfigPath)}\n");
        }

        foreach (var error in ConfigErrors)
        {
            text.Append(error.Line > 0 ? $"  {TerminalText.Escape(error.File)}:{error.Line}:{error.Column}: " : $"  {TerminalText.Escape(error.File)}: ");
            text.Append(TerminalText.Escape(error.KeyPath.Length > 0 ? $"{error.KeyPath}: {error.Message}" : error.Message)).Append('\n');
        }

        foreach (var f in Findings.OrderByDescending(f => Rank(f.Severity)))
        {
            text.Append($"{TerminalText.Escape(f.Severity),-8} {TerminalText.Escape(f.Check)} {TerminalText.Escape(f.Subject)}: {TerminalText.Escape(f.Message)}\n");
            if (f.Fix.Length > 0)
            {
                text.Append($"         fix: {TerminalText.Escape(f.Fix)}\n");
            }
        }

        var counts = Severities.Select(s => $"{Findings.Count(f => f.Severity == s)} {s}");
        text.Append(string.Join(", ", counts)).Append('\n');
        return text.ToString();
    }

    private static int Rank(string severity)
    {
        for (var i = 0; i < Severities.Count; i++)
        {
            if (Severities[i] == severity)
            {
                return i;
            }
        }

        return -1;
    }
}
