// swift-tools-version: 6.0
// A Swift package that embeds the Spruce runtime the way an app would: it depends on Spruce by
// path and uses only its SpruceRuntime library product. `swift build -c release` builds it with
// no Makefile flags, as a dependent package must.
import PackageDescription

let package = Package(
    name: "Classify",
    dependencies: [.package(name: "Spruce", path: "../..")],
    targets: [
        .executableTarget(name: "classify", dependencies: [.product(name: "SpruceRuntime", package: "Spruce")]),
    ],
    swiftLanguageModes: [.v6]
)
