#!/usr/bin/env python3
"""Makes crates/tisa-console/assets/coastline.json, the land the console's
missile-track map draws, from Natural Earth's 1:110m countries (public
domain), as shipped inside the geopandas 0.14.4 wheel on PyPI
(geopandas/datasets/naturalearth_lowres/: ne_110m_admin_0_countries as
geopandas took it for that release).

    pip download geopandas==0.14.4 --no-deps -d /tmp/geo
    (cd /tmp/geo && unzip -o geopandas-0.14.4-py3-none-any.whl 'geopandas/datasets/*')
    pip install --target /tmp/geo/py pyshp
    PYTHONPATH=/tmp/geo/py python3 scripts/coastline.py \
        /tmp/geo/geopandas/datasets/naturalearth_lowres/naturalearth_lowres.shp \
        > crates/tisa-console/assets/coastline.json

Every polygon is clipped to the region (119-149 E, 29-48 N: the Korean
peninsula, Japan, and the surrounding coasts of China and Russia) with
Sutherland-Hodgman, its points rounded to 0.01 degree; polygons with
nothing inside are dropped.
"""

import json
import sys

import shapefile  # pyshp

WEST, EAST, SOUTH, NORTH = 119.0, 149.0, 29.0, 48.0


def clip(ring):
    """Sutherland-Hodgman: the ring clipped to the rectangle."""
    edges = [
        (lambda p: p[0] >= WEST, lambda a, b: cut_x(a, b, WEST)),
        (lambda p: p[0] <= EAST, lambda a, b: cut_x(a, b, EAST)),
        (lambda p: p[1] >= SOUTH, lambda a, b: cut_y(a, b, SOUTH)),
        (lambda p: p[1] <= NORTH, lambda a, b: cut_y(a, b, NORTH)),
    ]
    out = ring
    for inside, cut in edges:
        if not out:
            break
        pts, out = out, []
        prev = pts[-1]
        for cur in pts:
            if inside(cur):
                if not inside(prev):
                    out.append(cut(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(cut(prev, cur))
            prev = cur
    return out


def cut_x(a, b, x):
    t = (x - a[0]) / (b[0] - a[0])
    return (x, a[1] + t * (b[1] - a[1]))


def cut_y(a, b, y):
    t = (y - a[1]) / (b[1] - a[1])
    return (a[0] + t * (b[0] - a[0]), y)


def main(path):
    r = shapefile.Reader(path)
    names = [f[0] for f in r.fields[1:]]
    land = []
    for rec, shp in zip(r.records(), r.shapes()):
        name = dict(zip(names, rec)).get("name", "")
        parts = list(shp.parts) + [len(shp.points)]
        for i in range(len(parts) - 1):
            ring = clip([tuple(p) for p in shp.points[parts[i]:parts[i + 1]]])
            pts = []
            for lon, lat in ring:
                p = [round(lon, 2), round(lat, 2)]
                if not pts or pts[-1] != p:
                    pts.append(p)
            if len(pts) >= 3:
                land.append({"name": name, "ring": pts})
    json.dump(
        {
            "source": "Natural Earth 1:110m Admin 0 countries (naturalearthdata.com), "
            "as shipped in the geopandas 0.14.4 wheel; clipped and rounded by scripts/coastline.py",
            "licence": "public domain (Natural Earth: no permission needed to use, modify or redistribute)",
            "bbox": [WEST, SOUTH, EAST, NORTH],
            "land": land,
        },
        sys.stdout,
        separators=(",", ":"),
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
