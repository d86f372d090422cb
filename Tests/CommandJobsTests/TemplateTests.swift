@testable import CommandJobs
import JSON
import Testing

@Suite(.timeLimit(.minutes(10))) struct TemplateTests {
    @Test func placeholdersAreReplacedInsideElementsAndTheRestIsLiteral() {
        let t = ArgumentTemplate("--level={level}")
        #expect(t.placeholders == ["level"])
        #expect(t.render(["level": 3]) == "--level=3")
        #expect(ArgumentTemplate("{print $1}").placeholders == [])
        #expect(ArgumentTemplate("{print $1}").render([:]) == "{print $1}")
        #expect(ArgumentTemplate("{a}{b}-{").render(["a": "x", "b": true]) == "xtrue-{")
        #expect(ArgumentTemplate("{missing}").render([:]) == "")
        #expect(ArgumentTemplate("").render([:]) == "")
    }
}
