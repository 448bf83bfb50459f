// `spruce study` as a user meets it: its help, and one `error:` line with a non-zero exit and no
// study folder for each bad flag. The end-to-end study itself is tested in SprucePipelineTests.
import Foundation
import Testing

@Suite struct StudyCommandTests {
    @Test("study help shows usage, the resume rule and an example")
    func help() throws {
        let result = try runSpruce(["study", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("USAGE: spruce study --data <dir> --models <list> --output <dir> [<options>]"))
        #expect(result.stdout.contains("spruce study --combine <list> --output <dir>"))
        #expect(result.stdout.contains("skipped when the same command runs again"))
        #expect(result.stdout.contains("spruce study --data ham10000"))
    }

    @Test("bad flags give one error line and write nothing", arguments: [
        (["--sparsities", "0,1.5"], "--sparsities must each be in [0, 1)"),
        (["--sparsities", "0,x"], "--sparsities: 'x' is not a number"),
        (["--lr", "0"], "--lr must list positive rates"),
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--models", "vgg16"], "vgg16"),
        (["--combine", "a,b"], "--combine reads finished studies: give no --data or --models"),
    ])
    func badFlags(extra: [String], message: String) throws {
        let dir = NSTemporaryDirectory() + "spruce-study-cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var args = ["study", "--data", "fixtures/images", "--models", "mobilenetv2", "-o", dir]
        for (i, a) in extra.enumerated() where i % 2 == 0 {
            if let at = args.firstIndex(of: a) { args[at + 1] = extra[i + 1] } else { args += [a, extra[i + 1]] }
        }
        let result = try runSpruce(args)
        #expect(result.status != 0)
        #expect(result.stderr.hasPrefix("error: ") && result.stderr.contains(message))
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test("--combine without --data, a missing flag, and a folder without results each give one error line", arguments: [
        (["--models", "mobilenetv2"], "Missing expected argument '--data <dir>'"),
        (["--data", "fixtures/images"], "Missing expected argument '--models <list>'"),
        (["--combine", ","], "--combine lists no folder"),
        (["--combine", "/nonexistent-study"], "/nonexistent-study holds no results.json"),
    ])
    func combineErrors(extra: [String], message: String) throws {
        let dir = NSTemporaryDirectory() + "spruce-study-cli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let result = try runSpruce(["study", "-o", dir] + extra)
        #expect(result.status != 0)
        #expect(result.stderr.hasPrefix("error: ") && result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: dir))
    }
}
