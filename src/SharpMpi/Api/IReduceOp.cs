namespace SharpMpi;

/// <summary>
/// A user-defined reduction operator as a type, for example
/// <c>struct MaxAbs : IReduceOp&lt;double&gt; { public static double Combine(double a, double b) =&gt; Math.Max(Math.Abs(a), Math.Abs(b)); }</c>
/// used as <c>world.Allreduce&lt;double, MaxAbs&gt;(local, result)</c>. The collective is compiled for the
/// operator type, so <see cref="Combine"/> is called directly (inlined), never through a delegate.
/// </summary>
/// <typeparam name="T">Element type.</typeparam>
public interface IReduceOp<T>
{
    /// <summary>
    /// Combines two elements; <paramref name="a"/> comes from lower ranks than <paramref name="b"/>. Must be
    /// associative; collectives of a non-commutative operator combine in rank order ((x0 ∘ x1) ∘ x2) ….
    /// </summary>
    static abstract T Combine(T a, T b);

    /// <summary>True (default) when a ∘ b = b ∘ a, which lets collectives combine in any order.</summary>
    static virtual bool IsCommutative => true;
}
