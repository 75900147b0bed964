// Master-worker genetic algorithm: rank 0 scatters the population, every rank evaluates the fitness of
// its individuals and returns (index, fitness) records packed with Pack, rank 0 unpacks them, selects,
// crosses over and mutates. The best fitness never gets worse (elitism) and improves over generations.
//   ./mpirun -n 4 examples/GeneticAlgorithm [generations]
using SharpMpi;

return MpiEnvironment.Run(args, world =>
{
    int generations = args.Length > 0 ? int.Parse(args[0]) : 30;
    const int Genes = 16;
    const int PerRank = 8;
    int population = PerRank * world.Size;
    var rng = new Random(12345);

    // Individuals are rows of Genes doubles; fitness = -Σ (gene - target)², best possible 0.
    var pop = new double[population * Genes];
    if (world.Rank == 0)
    {
        for (int i = 0; i < pop.Length; i++)
            pop[i] = rng.NextDouble() * 10 - 5;
    }
    var mine = new double[PerRank * Genes];
    int recordSize = world.PackSize<int>(1) + world.PackSize<double>(1);
    var packed = new byte[PerRank * recordSize];
    var all = new byte[population * recordSize];
    double firstBest = double.NaN, best = double.NegativeInfinity;

    for (int gen = 1; gen <= generations; gen++)
    {
        world.Scatter<double>(pop, mine, root: 0);

        long pos = 0;
        for (int k = 0; k < PerRank; k++)
        {
            double f = 0;
            for (int g = 0; g < Genes; g++)
            {
                double d = mine[k * Genes + g] - Math.Sin(g);
                f -= d * d;
            }
            world.Pack(world.Rank * PerRank + k, packed, ref pos);
            world.Pack(f, packed, ref pos);
        }
        world.Gather<byte>(packed, all, root: 0);

        if (world.Rank != 0)
            continue;
        var fitness = new double[population];
        pos = 0;
        for (int n = 0; n < population; n++)
        {
            world.Unpack(all, ref pos, out int index);
            world.Unpack(all, ref pos, out double f);
            fitness[index] = f;
        }
        var order = Enumerable.Range(0, population).OrderByDescending(i => fitness[i]).ToArray();
        best = fitness[order[0]];
        if (gen == 1)
            firstBest = best;
        Console.WriteLine($"generation {gen} best fitness {best:F6}");

        // Next generation: keep the two best, the rest are children of tournament winners from the top half.
        var next = new double[pop.Length];
        Array.Copy(pop, order[0] * Genes, next, 0, Genes);
        Array.Copy(pop, order[1] * Genes, next, Genes, Genes);
        double sigma = 0.5 * Math.Pow(0.93, gen);
        for (int c = 2; c < population; c++)
        {
            int a = order[rng.Next(population / 2)], b = order[rng.Next(population / 2)];
            for (int g = 0; g < Genes; g++)
            {
                double gene = rng.Next(2) == 0 ? pop[a * Genes + g] : pop[b * Genes + g];
                if (rng.NextDouble() < 0.3)
                    gene += sigma * (rng.NextDouble() * 2 - 1);
                next[c * Genes + g] = gene;
            }
        }
        pop = next;
    }

    if (world.Rank == 0)
        Console.WriteLine($"done: {generations} generations, best fitness {best:F6} (first {firstBest:F6}, improved: {best > firstBest})");
});
