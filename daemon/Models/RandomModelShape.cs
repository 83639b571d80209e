namespace UnifiedLlm.Daemon.Models;

/// <summary>The hyper-parameters of a random-weight llama model written by <see cref="TinyModel"/>.</summary>
internal sealed record RandomModelShape(int EmbeddingLength, int HeadCount, int KvHeadCount, int LayerCount, int FeedForwardLength, int ContextLength)
{
    public static readonly RandomModelShape Tiny = new(64, 4, 4, 2, 128, 256);
}
