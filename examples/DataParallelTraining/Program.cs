// Horovod-style data-parallel training: logistic regression on a generated data set. Rank 0 initializes
// the weights and broadcasts them; each rank computes the gradient on its shard; an Allreduce (ring for
// large vectors) sums the gradients, every rank applies the same update, so the weights stay identical
// everywhere. Rank 0 prints the loss and writes a checkpoint at the end.
//   ./mpirun -n 4 examples/DataParallelTraining [epochs] [checkpoint-file]
using SharpMpi;

return MpiEnvironment.Run(args, world =>
{
    int epochs = args.Length > 0 ? int.Parse(args[0]) : 30;
    string checkpoint = args.Length > 1 ? args[1] : Path.Combine(Path.GetTempPath(), "sharpmpi-logreg.bin");
    const int Features = 64, SamplesPerRank = 2000;
    const double LearningRate = 0.5;

    // A reproducible shard per rank from a known "true" model.
    var truth = new Random(7);
    var trueWeights = Enumerable.Range(0, Features).Select(_ => truth.NextDouble() * 2 - 1).ToArray();
    var random = new Random(1000 + world.Rank);
    var x = new double[SamplesPerRank, Features];
    var y = new double[SamplesPerRank];
    for (int s = 0; s < SamplesPerRank; s++)
    {
        double z = 0;
        for (int f = 0; f < Features; f++)
        {
            x[s, f] = random.NextDouble() * 2 - 1;
            z += x[s, f] * trueWeights[f];
        }
        y[s] = random.NextDouble() < Sigmoid(z) ? 1 : 0;
    }

    // Parameters start on rank 0 and are broadcast, so every rank starts from the same point.
    var weights = new double[Features + 1]; // + bias
    if (world.Rank == 0)
    {
        var init = new Random(3);
        for (int i = 0; i < weights.Length; i++)
            weights[i] = (init.NextDouble() - 0.5) * 0.01;
    }
    world.Broadcast<double>(weights, root: 0);

    var gradient = new double[Features + 2]; // last slot carries the loss sum
    double totalSamples = world.Allreduce((double)SamplesPerRank, Op.Sum);
    double firstLoss = 0, loss = 0;
    for (int epoch = 1; epoch <= epochs; epoch++)
    {
        Array.Clear(gradient);
        for (int s = 0; s < SamplesPerRank; s++)
        {
            double z = weights[Features];
            for (int f = 0; f < Features; f++)
                z += weights[f] * x[s, f];
            double p = Sigmoid(z), error = p - y[s];
            for (int f = 0; f < Features; f++)
                gradient[f] += error * x[s, f];
            gradient[Features] += error;
            gradient[Features + 1] -= y[s] * Math.Log(p + 1e-12) + (1 - y[s]) * Math.Log(1 - p + 1e-12);
        }
        world.Allreduce<double>(gradient, Op.Sum);              // sum over all shards, in place
        for (int i = 0; i <= Features; i++)
            weights[i] -= LearningRate * gradient[i] / totalSamples;
        loss = gradient[Features + 1] / totalSamples;
        if (epoch == 1)
            firstLoss = loss;
        if (world.Rank == 0 && (epoch == 1 || epoch % 5 == 0 || epoch == epochs))
            Console.WriteLine($"epoch {epoch,3}: loss {loss:F5}");
    }

    // Every rank must hold the same weights: compare against rank 0's with a Max of the differences.
    var reference = (double[])weights.Clone();
    world.Broadcast<double>(reference, root: 0);
    double drift = world.Allreduce(weights.Zip(reference, (a, b) => Math.Abs(a - b)).Max(), Op.Max);
    if (world.Rank == 0)
    {
        using (var file = File.Create(checkpoint))
        using (var writer = new BinaryWriter(file))
        {
            writer.Write(weights.Length);
            foreach (double w in weights)
                writer.Write(w);
        }
        Console.WriteLine($"trained on {world.Size} ranks: loss {firstLoss:F5} -> {loss:F5}, weights identical on all ranks (max difference {drift}), checkpoint {checkpoint}");
    }

    static double Sigmoid(double z) => 1.0 / (1.0 + Math.Exp(-z));
});
