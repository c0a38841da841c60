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

extension PagedSequence {
    /// Keyset pagination over the ids of `range` (both stores' range reads): `fetch(lower, limit)`
    /// returns at most `limit` elements with ids from `lower` on, in id order; the next page starts
    /// after the last id of a full page. Memory holds one page; no cursor or transaction stays open
    /// between pages.
    public static func keyset(
        in range: KeyRange, pageSize: Int, id: @escaping @Sendable (Element) -> Int64,
        fetch: @escaping @Sendable (_ lower: Int64, _ limit: Int) async throws -> [Element]
    ) -> PagedSequence {
        let size = Swift.max(1, pageSize)
        return PagedSequence(start: range.isEmpty ? nil : Cursor(range.lower)) { cursor in
            let page = try await fetch(cursor.position, size)
            return Page(elements: page, next: .after(page.last.map(id), pageFull: page.count == size))
        }
    }

    /// Pages over a list of ids (both stores' `records(of:ids:)`): sorted, duplicates removed, at most
    /// `pageSize` ids per `fetch`.
    public static func byIDs(
        _ ids: [Int64], pageSize: Int, fetch: @escaping @Sendable (_ ids: [Int64]) async throws -> [Element]
    ) -> PagedSequence {
        let sorted = Array(Set(ids)).sorted()
        let size = Swift.max(1, pageSize)
        return PagedSequence(start: sorted.isEmpty ? nil : Cursor(0)) { cursor in
            let start = Int(cursor.position)
            let end = Swift.min(start + size, sorted.count)
            let elements = try await fetch(Array(sorted[start..<end]))
            return Page(elements: elements, next: end < sorted.count ? Cursor(Int64(end)) : nil)
        }
    }
}
