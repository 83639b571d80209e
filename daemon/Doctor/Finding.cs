namespace UnifiedLlm.Daemon.Doctor;

/// <summary>How bad a finding is; the admin API names them in lower case ("ok", "info", "warning", "error").</summary>
internal enum Severity
{
    Ok,
    Info,
    Warning,
    Error,
}

/// <summary>One result of <c>ullmctl doctor</c>: what was checked (<paramref name="Check"/> on <paramref name="Subject"/>), what was found, and how to fix it.</summary>
internal sealed record Finding(Severity Severity, string Check, string Subject, string Message, string Fix = "")
{
    public string SeverityName => Severity.ToString().ToLowerInvariant();
}
