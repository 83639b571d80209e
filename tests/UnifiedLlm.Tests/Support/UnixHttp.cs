using UnifiedLlm.Ctl;

namespace UnifiedLlm.Tests.Support;

/// <summary>An HTTP client whose every connection goes to one unix socket (ullmd's OpenAI-compatible listener).</summary>
public static class UnixHttp
{
    public static HttpClient To(string socket) => new(UnixSocketHttp.Handler(socket)) { BaseAddress = new Uri("http://localhost/") };
}
