using System.Text.RegularExpressions;

namespace UnifiedLlm.Daemon.Providers;

/// <summary>
/// Takes credentials out of text that came from an upstream before it reaches a client, the log, the audit log or a
/// breaker's last error. Some providers echo the key they were sent in their 401 ("Incorrect API key provided: …"),
/// and an error relayed verbatim would hand it to anyone who may call ullmd.
/// </summary>
internal static partial class SecretRedaction
{
    public const string Mask = "[redacted]";

    /// <summary><paramref name="text"/> without <paramref name="secret"/> (when given) and without anything shaped like a credential.</summary>
    public static string Redact(string text, string? secret)
    {
        if (secret is { Length: >= 4 })
        {
            text = text.Replace(secret, Mask, StringComparison.Ordinal);
        }

        return CredentialShapes().Replace(text, m => m.Groups["lead"].Value + Mask);
    }

    // "Bearer <token>", "x-api-key: <token>", "api_key=<token>", and the key formats of OpenAI ("sk-…"), Anthropic
    // ("sk-ant-…") and ullmd ("ullm-…"), masked or not.
    [GeneratedRegex(@"(?<lead>\b(?:Bearer|Basic)\s+|\b(?:x-api-key|api[_-]?key|authorization|token)[""']?\s*[:=]\s*[""']?)[^\s""',;}]{4,}|(?<lead>)\b(?:sk|ullm)-[A-Za-z0-9_*.\-]{6,}", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex CredentialShapes();
}
