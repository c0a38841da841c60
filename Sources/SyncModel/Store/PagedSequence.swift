/// An async sequence that fetches its elements one page at a time, so a caller can walk a table of
/// any size holding at most one page in memory.
public struct PagedSequence<Element: Sendable>: AsyncSequence, Sendable {
    /// One page of elements and where the next page starts (`nil`: this was the last page).
    public struct Page: Sendable {
        public var elements: [Element]
        public var next: Cursor?

        public init(elements: [Element], next: Cursor?) {
            self.elements = elements
            self.next = next
        }
    }

    /// Where a page starts: an opaque position the fetch function understands.
    public struct Cursor: Sendable, Hashable {
        public var position: Int64
        public init(_ position: Int64) { self.position = position }

        /// The cursor of a keyset-paginated read after a page whose last id was `lastID`: none when the
        /// page was not full (it was the last) or the id space is exhausted.
        public static func after(_ lastID: Int64?, pageFull: Bool) -> Cursor? {
            guard pageFull, let lastID, lastID < Int64.max else { return nil }
            return Cursor(lastID + 1)
        }
    }

    let start: Cursor?
    let fetch: @Sendable (Cursor) async throws -> Page

    public init(start: Cursor?, fetch: @escaping @Sendable (Cursor) async throws -> Page) {
        self.start = start
        self.fetch = fetch
    }

    public func makeAsyncIterator() -> Iterator { Iterator(cursor: start, fetch: fetch) }

    public struct Iterator: AsyncIteratorProtocol {
        var buffer: [Element] = []
        var index = 0
        var cursor: Cursor?
        let fetch: @Sendable (Cursor) async throws -> Page

        init(cursor: Cursor?, fetch: @escaping @Sendable (Cursor) async throws -> Page) {
            self.cursor = cursor
            self.fetch = fetch
        }

        public mutating func next() async throws -> Element? {
            while index == buffer.count {
                guard let current = cursor else {
                    buffer = []
                    return nil
                }
                let page = try await fetch(current)
                buffer = page.elements
                index = 0
                cursor = page.next
            }
            defer { index += 1 }
            return buffer[index]
        }
    }

    /// Collects everything (for tests and small results).
    public func collect() async throws -> [Element] {
        var all: [Element] = []
        for try await element in self { all.append(element) }
        return all
    }
}

extension PagedSequence {
    /// The same sequence, calling `observe` with every page as it is fetched (for traffic metering).
    public func observingPages(_ observe: @escaping @Sendable ([Element]) -> Void) -> PagedSequence {
        let fetch = self.fetch
        return PagedSequence(start: start) { cursor in
            let page = try await fetch(cursor)
            observe(page.elements)
            return page
        }
    }

    /// Collects the elements in pages of at most `size`, calling `body` for each (bounded memory).
    public func forEachPage(of size: Int, _ body: ([Element]) async throws -> Void) async throws {
        var buffer: [Element] = []
        buffer.reserveCapacity(size)
        for try await element in self {
            buffer.append(element)
            if buffer.count >= size {
                try await body(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        if !buffer.isEmpty { try await body(buffer) }
    }
}
