from __future__ import annotations

from pathlib import Path

import pytest

from newsflow.pipelines.config import ConfigError, load_config
from newsflow.transforms.items import FeedSpec


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_yaml_feed_list_with_all_fields(tmp_path):
    path = write(tmp_path, "feeds.yaml", """
feeds:
  - url: https://news.example.org/rss.xml
    name: Example News
    tags: [asia, defence]
    region_hint: kr
    options: {max_entries: 20}
  - https://other.example.net/atom.xml
""")
    assert load_config(path) == [
        FeedSpec("https://news.example.org/rss.xml", "Example News", ("asia", "defence"), "KR",
                 (("max_entries", 20),)),
        FeedSpec("https://other.example.net/atom.xml"),
    ]


def test_yaml_duplicates_are_merged(tmp_path):
    path = write(tmp_path, "feeds.yaml", """
- {url: "https://news.example.org/rss.xml?utm_source=x", tags: [a]}
- {url: "https://NEWS.example.org/rss.xml", name: Later, tags: [b]}
""")
    assert load_config(path) == [
        FeedSpec("https://news.example.org/rss.xml?utm_source=x", "Later", ("a", "b"))]


@pytest.mark.parametrize(("text", "where", "problem"), [
    ("feeds:\n  - url: ftp://x.example/feed\n", "feeds[0] (line 2)", "not an absolute http(s) URL"),
    ("feeds:\n  - url: https://a.example/f\n  - name: no url\n", "feeds[1] (line 3)", "url is missing"),
    ("feeds:\n  - url: https://a.example/f\n    colour: red\n", "feeds[0] (line 2)", "unknown key(s) ['colour']"),
    ("feeds:\n  - url: https://a.example/f\n    region_hint: XX\n", "feeds[0] (line 2)", "region_hint 'XX'"),
    ("feeds:\n  - url: https://a.example/f\n    options: {max_entries: 0}\n", "feeds[0] (line 2)",
     "max_entries must be a positive integer"),
    ("feeds: [\n", "line 2", "invalid YAML"),
    ("feeds: []\n", "feeds", "non-empty list"),
    ("title: nothing\n", "top level", "expected a 'feeds' list"),
])
def test_yaml_errors_name_file_entry_and_problem(tmp_path, text, where, problem):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.path == path
    assert info.value.where == where
    assert problem in info.value.problem
    assert str(info.value).startswith(f"{path}: {where}: ")


def test_opml_nested_outlines_and_duplicates(tmp_path):
    path = write(tmp_path, "feeds.opml", """<?xml version="1.0"?>
<opml version="2.0"><head><title>x</title></head><body>
  <outline text="World">
    <outline text="Asia">
      <outline type="rss" text="Seoul Herald" xmlUrl="https://seoul.example/rss.xml"/>
    </outline>
    <outline type="rss" text="Wire" xmlUrl="https://wire.example/atom.xml"/>
  </outline>
  <outline type="rss" text="Seoul again" xmlUrl="https://seoul.example/rss.xml#dup"/>
</body></opml>""")
    assert load_config(path) == [
        FeedSpec("https://seoul.example/rss.xml", "Seoul Herald", ("World", "Asia")),
        FeedSpec("https://wire.example/atom.xml", "Wire", ("World",)),
    ]


def test_opml_1_0_and_errors(tmp_path):
    ok = write(tmp_path, "v1.opml", '<opml version="1.0"><body>'
               '<outline title="A" xmlUrl="http://a.example/rss"/></body></opml>')
    assert load_config(ok) == [FeedSpec("http://a.example/rss", "A")]
    broken = write(tmp_path, "broken.opml", "<opml><body><outline xmlUrl='x'></body></opml>")
    with pytest.raises(ConfigError, match="invalid OPML"):
        load_config(broken)
    empty = write(tmp_path, "empty.opml", "<opml><body><outline text='folder'/></body></opml>")
    with pytest.raises(ConfigError, match="no outline with an xmlUrl"):
        load_config(empty)
    bad_url = write(tmp_path, "bad.opml", "<opml><body><outline text='A' xmlUrl='feed.xml'/></body></opml>")
    with pytest.raises(ConfigError, match=r"outline A: url 'feed.xml' is not an absolute"):
        load_config(bad_url)


def test_opml_entities_are_refused(tmp_path):
    path = write(tmp_path, "xxe.opml", '<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM '
                 '"file:///etc/passwd">]><opml><body><outline text="&x;" xmlUrl="http://a.example/"/>'
                 '</body></opml>')
    with pytest.raises(ConfigError, match="invalid OPML"):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file: not found"):
        load_config(str(tmp_path / "nope.yaml"))
